#pragma once
// The activation experiment's figures: Figure 1 (training error of every seed, thin, and their
// median, thick, per activation), the study's speed-ups over tanh, and Figure 2-3 (the functions
// and their derivatives).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/model.hpp"

namespace alexnet {

struct CurvePoint {
    double epoch = 0;
    int64_t iter = 0;
    double error = 0;  // training error over the interval that ends here
};

struct SeedCurves {
    std::string activation;
    float lr = 0;
    std::vector<std::vector<CurvePoint>> curves;  // per seed, each ending at the target or its budget
    std::vector<bool> reached;                     // per seed
};

// At each measurement the median over seeds of the training error; a seed that reached the target
// keeps its last value, one that stopped short of it (budget, divergence) drops out. Ends at the
// first point at or below `target`.
std::vector<CurvePoint> median_curve(const SeedCurves& c, double target);

void write_figure1(const std::string& path, const std::vector<SeedCurves>& curves, double target,
                   const std::string& title, const std::string& subtitle);

// One panel per initialisation: the cells of the study (speed-up over tanh per target, with the
// per-seed minimum and maximum), keyed by activation.
struct StudyPanel {
    std::string init;
    std::vector<double> targets;                                  // descending
    std::map<std::string, std::vector<nlohmann::ordered_json>> speedups;  // per target, in order
};
void write_study_figure(const std::string& path, const std::vector<StudyPanel>& panels, const std::string& title,
                        const std::string& subtitle);

void write_activation_curves(const std::string& path, const std::vector<Activation>& acts);

// fig.png + "-paper" -> fig-paper.png
std::string with_suffix(const std::string& path, const std::string& suffix);

}  // namespace alexnet
