#pragma once
// alexnet-eval's confusion matrix on disk: the counts as CSV and, for up to 100 classes, a heat map
// of each row's fractions beside it (PNG and SVG).
#include <string>
#include <vector>

#include "metrics/topk.hpp"

namespace alexnet {

// Writes the CSV (`path`, or `path` with .csv for a .png path) and the heat map titled with `what`
// was evaluated; returns the PNG's path ("" when there are more classes than a heat map shows).
std::string write_confusion(const std::string& path, const Evaluation& e, const std::vector<std::string>& names,
                            const std::string& what);

}  // namespace alexnet
