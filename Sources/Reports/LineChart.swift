// LineChart: a small, dependency-free SVG line chart — axes with ticks, one polyline and marker set per series, and a
// legend — for the reports (sensitivity curves now, accuracy against bytes or latency later). The output is plain
// SVG 1.1 that browsers and Markdown viewers show as it is.
import Foundation

/// A line chart of named series over a shared x axis.
public struct LineChart {
    public struct Series {
        public var name: String
        public var points: [(x: Double, y: Double)]
        /// Whether a line joins the points (else they are a scatter of markers).
        public var connected: Bool

        public init(name: String, points: [(x: Double, y: Double)], connected: Bool = true) {
            self.name = name
            self.points = points
            self.connected = connected
        }
    }

    public var title: String
    public var xLabel: String, yLabel: String
    public var series: [Series]
    /// Fixed axis ranges; nil fits the data.
    public var xRange: ClosedRange<Double>?, yRange: ClosedRange<Double>?
    public var width = 720.0, height = 440.0

    public init(title: String, xLabel: String, yLabel: String, series: [Series]) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
    }

    /// A qualitative palette that stays readable for up to ten series (colours repeat after that).
    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                          "#bcbd22", "#17becf"]

    /// The chart as an SVG document.
    public var svg: String {
        let points = series.flatMap(\.points)
        let xs = xRange ?? Self.fitted(points.map(\.x)), ys = yRange ?? Self.fitted(points.map(\.y))
        let left = 70.0, right = 170.0, top = 40.0, bottom = 55.0
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        func px(_ x: Double) -> Double { left + (x - xs.lowerBound) / max(xs.upperBound - xs.lowerBound, 1e-12) * plotWidth }
        func py(_ y: Double) -> Double {
            top + plotHeight - (y - ys.lowerBound) / max(ys.upperBound - ys.lowerBound, 1e-12) * plotHeight
        }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        var out = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(f(width))" height="\(f(height))" \
            viewBox="0 0 \(f(width)) \(f(height))" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(f(left + plotWidth / 2))" y="22" text-anchor="middle" font-size="15">\(Self.escaped(title))</text>

            """
        // Grid and ticks.
        for tick in Self.tickValues(xs) {
            out += "<line x1=\"\(f(px(tick)))\" y1=\"\(f(top))\" x2=\"\(f(px(tick)))\" y2=\"\(f(top + plotHeight))\" "
                + "stroke=\"#e5e5e5\"/>\n"
            out += "<text x=\"\(f(px(tick)))\" y=\"\(f(top + plotHeight + 18))\" text-anchor=\"middle\">"
                + "\(Self.label(tick))</text>\n"
        }
        for tick in Self.tickValues(ys) {
            out += "<line x1=\"\(f(left))\" y1=\"\(f(py(tick)))\" x2=\"\(f(left + plotWidth))\" y2=\"\(f(py(tick)))\" "
                + "stroke=\"#e5e5e5\"/>\n"
            out += "<text x=\"\(f(left - 8))\" y=\"\(f(py(tick) + 4))\" text-anchor=\"end\">\(Self.label(tick))</text>\n"
        }
        out += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotWidth))\" height=\"\(f(plotHeight))\" "
            + "fill=\"none\" stroke=\"#333\"/>\n"
        out += "<text x=\"\(f(left + plotWidth / 2))\" y=\"\(f(height - 12))\" text-anchor=\"middle\">"
            + "\(Self.escaped(xLabel))</text>\n"
        out += "<text transform=\"translate(18 \(f(top + plotHeight / 2))) rotate(-90)\" text-anchor=\"middle\">"
            + "\(Self.escaped(yLabel))</text>\n"
        for (i, s) in series.enumerated() {
            let colour = Self.palette[i % Self.palette.count]
            let path = s.points.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
            if s.connected {
                out += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\"/>\n"
            }
            for p in s.points {
                out += "<circle cx=\"\(f(px(p.x)))\" cy=\"\(f(py(p.y)))\" r=\"3\" fill=\"\(colour)\"/>\n"
            }
            let ly = top + 10 + Double(i) * 18
            out += "<line x1=\"\(f(left + plotWidth + 12))\" y1=\"\(f(ly))\" x2=\"\(f(left + plotWidth + 32))\" "
                + "y2=\"\(f(ly))\" stroke=\"\(colour)\" stroke-width=\"2\"/>\n"
            out += "<text x=\"\(f(left + plotWidth + 38))\" y=\"\(f(ly + 4))\">\(Self.escaped(s.name))</text>\n"
        }
        return out + "</svg>\n"
    }

    /// The data's range, widened by 5% (or by 1 when flat).
    static func fitted(_ values: [Double]) -> ClosedRange<Double> {
        guard let low = values.min(), let high = values.max() else { return 0...1 }
        if low == high { return (low - 1)...(high + 1) }
        let pad = (high - low) * 0.05
        return (low - pad)...(high + pad)
    }

    /// About five round tick values inside `range` (1, 2, 2.5 or 5 times a power of ten apart).
    public static func tickValues(_ range: ClosedRange<Double>) -> [Double] {
        let span = range.upperBound - range.lowerBound
        guard span > 0, span.isFinite else { return [range.lowerBound] }
        let raw = span / 5, exponent = floor(log10(raw)), magnitude = pow(10, exponent)
        let mantissa = [1.0, 2, 2.5, 5, 10].first { $0 * magnitude >= raw } ?? 10
        let step = mantissa * magnitude
        // Tick k is k · mantissa · 10^e, computed as a division by 10^−e when e < 0 so that 3 · 0.2 prints as 0.6.
        func value(_ k: Double) -> Double { exponent < 0 ? k * mantissa / pow(10, -exponent) : k * step }
        let first = (range.lowerBound / step).rounded(.up), last = (range.upperBound / step + 1e-9).rounded(.down)
        guard first <= last else { return [range.lowerBound] }
        return stride(from: first, through: last, by: 1).map { value($0) == 0 ? 0 : value($0) }
    }

    static func label(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e6 ? String(Int(value)) : String(format: "%g", value)
    }

    static func escaped(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
