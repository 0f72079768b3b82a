// prometheus-cpp side of the metrics: a Collectable that builds every family from a fresh
// MetricsSnapshot on each Collect().
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <functional>
#include <vector>

#include "driftwatch/metrics.hpp"

namespace driftwatch {

std::vector<prometheus::MetricFamily> build_metric_families(const MetricsSnapshot& snapshot);

class SnapshotCollectable : public prometheus::Collectable {
 public:
  explicit SnapshotCollectable(std::function<MetricsSnapshot()> source)
      : source_(std::move(source)) {}
  std::vector<prometheus::MetricFamily> Collect() const override {
    return build_metric_families(source_());
  }

 private:
  std::function<MetricsSnapshot()> source_;
};

}  // namespace driftwatch
