#include "study/activation_figures.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/dnnl_util.hpp"
#include "io/json_lines.hpp"
#include "figures/plot.hpp"

namespace alexnet {

std::vector<CurvePoint> median_curve(const SeedCurves& c, double target) {
    std::vector<CurvePoint> out;
    size_t longest = 0;
    for (const auto& curve : c.curves) longest = std::max(longest, curve.size());
    for (size_t i = 0; i < longest; ++i) {
        std::vector<double> v;
        CurvePoint at;
        for (size_t s = 0; s < c.curves.size(); ++s) {
            const auto& curve = c.curves[s];
            if (i < curve.size()) {
                v.push_back(curve[i].error);
                at = curve[i];
            } else if (c.reached[s] && !curve.empty()) {
                v.push_back(curve.back().error);
            }
        }
        if (v.empty()) break;
        std::sort(v.begin(), v.end());
        const size_t m = v.size() / 2;
        at.error = v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
        out.push_back(at);
        if (at.error <= target) break;
    }
    return out;
}

void write_figure1(const std::string& path, const std::vector<SeedCurves>& curves, double target,
                   const std::string& title, const std::string& subtitle) {
    Panel p{"every seed (thin) and their median (thick)", "epochs", "training error", true};
    for (const SeedCurves& c : curves) {
        const std::string name = c.activation + ", lr " + short_number(c.lr);
        for (const auto& curve : c.curves) {
            Series s(name, true);
            for (const CurvePoint& q : curve) s.x.push_back(q.epoch), s.y.push_back(q.error);
            p.series.push_back(s);
        }
        Series m(name);
        for (const CurvePoint& q : median_curve(c, target)) m.x.push_back(q.epoch), m.y.push_back(q.error);
        p.series.push_back(m);
    }
    p.references.push_back({"target " + short_number(target), target});
    write_figure(path, {title, subtitle, {p}});
}

void write_study_figure(const std::string& path, const std::vector<StudyPanel>& panels, const std::string& title,
                        const std::string& subtitle) {
    std::vector<Panel> out;
    for (const StudyPanel& sp : panels) {
        Panel p{sp.init + " init", "target training error", "speed-up over tanh (x)"};
        for (const auto& [act, cells] : sp.speedups) {
            // A median at the budget gives only a bound ("at most", "at least"): a point of its
            // own in the legend, not a measured point on the line.
            Series med(act), lo(act, true), hi(act, true), bound(act + ": a bound (a median at the budget)");
            for (const auto& c : cells) {
                const double x = c["target"].get<double>(), y = c["speedup_vs_tanh"].get<double>();
                const bool is_bound = c.contains("speedup_bound") && !c["speedup_bound"].is_null();
                med.x.push_back(x), med.y.push_back(is_bound ? std::numeric_limits<double>::quiet_NaN() : y);
                if (is_bound) bound.x.push_back(x), bound.y.push_back(y);
                const auto& per_seed = c["speedup_per_seed"];
                if (per_seed.is_null()) continue;
                lo.x.push_back(x), lo.y.push_back(per_seed["min"].get<double>());
                hi.x.push_back(x), hi.y.push_back(per_seed["max"].get<double>());
            }
            p.series.push_back(lo), p.series.push_back(hi), p.series.push_back(med);
            if (!bound.x.empty()) p.series.push_back(bound);
        }
        p.references.push_back({"tanh (1x)", 1.0});
        out.push_back(std::move(p));
    }
    write_figure(path, {title, subtitle, out});
}

void write_activation_curves(const std::string& path, const std::vector<Activation>& acts) {
    std::vector<float> x;
    for (int i = 0; i <= 240; ++i) x.push_back(-6.f + 0.05f * float(i));
    Panel f{"activation functions", "x", "f(x)"}, d{"derivatives", "x", "f′(x)"};
    for (Activation a : acts) {
        std::vector<float> y, dy;
        eltwise_curve(a, x, y, dy);
        Series fs(to_string(a)), ds(to_string(a));
        for (size_t i = 0; i < x.size(); ++i) {
            fs.x.push_back(x[i]), fs.y.push_back(y[i]);
            ds.x.push_back(x[i]), ds.y.push_back(dy[i]);
        }
        f.series.push_back(fs);
        d.series.push_back(ds);
    }
    write_figure(path, {"Activation functions and their derivatives",
                        "as computed by oneDNN's eltwise primitives (forward and backward)", {f, d}});
}

std::string with_suffix(const std::string& path, const std::string& suffix) {
    const size_t slash = path.find_last_of('/');
    const size_t dot = path.find_last_of('.');
    if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return path + suffix;
    return path.substr(0, dot) + suffix + path.substr(dot);
}

}  // namespace alexnet
