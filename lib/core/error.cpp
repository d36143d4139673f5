#include "core/error.hpp"

namespace alexnet {

namespace {
std::string format_message(const std::string& where, const std::string& field,
                           const std::string& expected, const std::string& found) {
    std::string msg = where;
    if (!field.empty()) msg += ": " + field;
    msg += ": expected " + expected + ", found " + found;
    return msg;
}
}  // namespace

Error::Error(std::string where, std::string field, std::string expected, std::string found)
    : std::runtime_error(format_message(where, field, expected, found)), where_(std::move(where)) {}

Error::Error(std::string where, std::string message)
    : std::runtime_error(where.empty() ? message : where + ": " + message), where_(std::move(where)) {}

void check(bool ok, const std::string& where, const std::string& field,
           const std::string& expected, const std::string& found) {
    if (!ok) throw Error(where, field, expected, found);
}

}  // namespace alexnet
