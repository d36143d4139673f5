#pragma once
// alexnet-search's options and subcommands: index (vectors of images, data sets or alexnet-embed
// output into an index file), query (each query's nearest neighbours, and the Figure 4 sheet) and
// duplicates (groups of near-duplicates).
#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "cli/tool_model.hpp"
#include "io/json_lines.hpp"

namespace alexnet {

struct SearchCli {
    CommonOptions common;          // the inputs (INPUTS or QUERIES) and the model that embeds images
    std::string index;             // the index file
    std::string layer = "fc7";      // query: the index's layer unless given
    bool layer_given = false;
    std::string split;             // which part of an IDX or CIFAR-10 folder (index: train, query: test)
    std::string root;              // a list's relative paths start here
    int limit = 0;                 // N items drawn across a data set (0: all)
    // index
    bool append = false;
    std::string metric = "l2";     // l2 | cosine
    int codes = 0, lists = 0;      // compressed codes of `codes` bytes, an inverted file of `lists` lists
    int train_vectors = 100000;    // the sample the codes are trained on
    uint64_t seed = 1;
    // query and duplicates
    int k = 6;
    bool exclude_self = false;
    int nprobe = 16;
    std::string sheet;             // PNG (and SVG) of the queries and their neighbours
    double max_distance = -1;      // duplicates: at most this distance
};

void add_search_options(CLI::App& app, SearchCli& o);

// Runs the subcommand given; returns the exit code (1 when an input could not be read).
int run_search(CLI::App& app, SearchCli& o, JsonLines& out);

}  // namespace alexnet
