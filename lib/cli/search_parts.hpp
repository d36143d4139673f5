#pragma once
// Inside alexnet-search (lib/cli/search_*.cpp): the vectors of the inputs, gathered from vector
// files, data sets and images, and the distances as reported. Not for other tools.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "cli/search_options.hpp"
#include "search/index_file.hpp"
#include "search/vector_sets.hpp"

namespace alexnet {

// The inputs' vectors, to `sink` in sets of about `chunk` vectors, in input order, each checked
// to agree with those before (origin, dimension, class names): alexnet-embed files as they are,
// data sets and images through the model (loaded once, when first needed; --weights, else
// `default_weights`, else the usual default) at --layer. Unreadable images get an error line on
// `out` and are counted in `failed`.
void stream_vectors(const SearchCli& o, const std::vector<std::string>& inputs, bool index_side,
                    const std::string& default_weights, JsonLines& out, int& failed, int64_t chunk,
                    const std::function<void(VectorSet&)>& sink);

// The model that embeds images and data sets: --weights, else `default_weights` (the index's,
// when that file exists), else the usual default.
LoadedModel load_query_model(const SearchCli& o, const std::string& default_weights);

// Images (not data sets, not vector files) through the classify/embed loop into `v`, calling
// `after_each` (when given) after each vector; an unreadable image gets its error line, after
// `before_error` (when given).
void embed_images(const SearchCli& o, const std::vector<std::string>& images, LoadedModel& model, VectorSet& v,
                  JsonLines& out, int& failed, const std::function<void()>& after_each = {},
                  const std::function<void()>& before_error = {});

// The distance users see: Euclidean for l2, 1 - cosine for cosine (unit vectors), from a squared
// Euclidean distance.
double reported_distance(const std::string& metric, double distance2);
// The inverse, for --max-distance.
double squared_distance_for(const std::string& metric, double distance);

// A neighbour's or query's "class" and "label" fields (none when the label is unknown).
void add_label_fields(nlohmann::ordered_json& line, int label, const std::vector<std::string>& names);

int run_index(CLI::App& app, const SearchCli& o, JsonLines& out);
int run_query(const SearchCli& o, JsonLines& out);
int run_duplicates(const SearchCli& o, JsonLines& out);

}  // namespace alexnet
