#pragma once
// The one exception type of the suite: it names where the problem is (a file, a tensor, an
// option), which field, what was expected and what was found. Only main() turns it into a
// message and an exit code.
#include <stdexcept>
#include <string>

namespace alexnet {

class Error : public std::runtime_error {
public:
    Error(std::string where, std::string field, std::string expected, std::string found);
    // For problems that have no expected/found pair (e.g. "cannot open: No such file").
    Error(std::string where, std::string message);

    const std::string& where() const { return where_; }

private:
    std::string where_;
};

// Throws Error(where, field, expected, found) unless `ok`.
void check(bool ok, const std::string& where, const std::string& field,
           const std::string& expected, const std::string& found);

}  // namespace alexnet
