/** @odoo-module **/
// The Monitoring tab in Chromium (tests/test_monitoring_tour.py): a lone
// sample is drawn as a point, the axis spans the range asked for (so every
// marker of the range is on it), a normal container stop reads as one.

import { registry } from "@web/core/registry";
import { clickTimed, interactive, screenshot } from "@ipai_ops_core/../tests/tours/tour_helpers";

function chartOf(key) {
    return window.Chart.getChart(document.querySelector(`canvas[data-chart="${key}"]`));
}

registry.category("web_tour.tours").add("ipai_ops_monitoring_charts", {
    steps: () => [
        {
            content: "open the Monitoring tab",
            trigger: ".o_notebook_headers a:contains(Monitoring)",
            run: clickTimed,
        },
        {
            content: "the marker of a replaced container reads as a normal stop, not an alarm",
            trigger: ".o_ops_env_metrics li:contains(container stopped normally)",
            run: () => interactive("Monitoring tab, charts drawn"),
        },
        screenshot("environment-monitoring"),
        {
            content: "the lone response-time sample is a visible point, inside an axis spanning the last hour",
            trigger: ".o_ops_env_metrics canvas[data-chart='latency']",
            run: () => {
                const chart = chartOf("latency");
                const p95 = chart.data.datasets.find((dataset) => dataset.label === "p95");
                const index = p95.data.findIndex((point) => point.y !== null);
                if (index < 0) {
                    throw new Error("no p95 sample in the chart");
                }
                const radius = chart.getDatasetMeta(chart.data.datasets.indexOf(p95)).data[index].options.radius;
                if (!(radius > 0)) {
                    throw new Error(`a lone sample is drawn with radius ${radius}`);
                }
                const span = chart.scales.x.max - chart.scales.x.min;
                if (Math.abs(span - 3600 * 1000) > 5000) {
                    throw new Error(`the axis spans ${span} ms, not the hour asked for`);
                }
            },
        },
        {
            content: "the marker of the range lies within the axis",
            trigger: ".o_ops_env_metrics canvas[data-chart='cpu']",
            run: () => {
                const chart = chartOf("cpu");
                const markers = chart.options.plugins.opsMarkers.markers;
                if (!markers.length || markers.some((m) => m.t < chart.scales.x.min || m.t > chart.scales.x.max)) {
                    throw new Error("a marker of the range is off the axis");
                }
            },
        },
    ],
});
