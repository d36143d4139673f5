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
    // A problem with what the user asked for, not with a file: an error whose `where` is an
    // option ("--mean: expected 3 values ...") or a UsageError. The tools exit 2 for these.
    bool is_usage() const { return usage_ || where_.rfind("--", 0) == 0; }

protected:
    bool usage_ = false;

private:
    std::string where_;
};

// A usage problem found after parsing that names no single option ("no inputs", "give one data
// set"): exit 2, like CLI11's own errors.
class UsageError : public Error {
public:
    explicit UsageError(const std::string& message) : Error("", message) { usage_ = true; }
};

// Throws Error(where, field, expected, found) unless `ok`.
void check(bool ok, const std::string& where, const std::string& field,
           const std::string& expected, const std::string& found);

}  // namespace alexnet
