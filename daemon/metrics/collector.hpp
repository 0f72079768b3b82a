// prometheus-cpp side of the metrics: every family built from a MetricsSnapshot.
#pragma once

#include <prometheus/metric_family.h>

#include <vector>

#include "driftwatch/metrics.hpp"

namespace driftwatch {

std::vector<prometheus::MetricFamily> build_metric_families(const MetricsSnapshot& snapshot);

}  // namespace driftwatch
