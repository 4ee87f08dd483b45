// LineChart: one polyline and legend entry per series, points placed by the axes, text escaped, round ticks.
import Reports
import Testing

@Suite struct LineChartTests {
    @Test func seriesAxesAndEscaping() {
        var chart = LineChart(title: "a < b & c", xLabel: "sparsity", yLabel: "accuracy (%)",
                              series: [.init(name: "conv1", points: [(0, 90), (0.5, 80), (1, 10)]),
                                       .init(name: "fc\"1\"", points: [(0, 90), (1, 85)])])
        chart.xRange = 0...1
        chart.yRange = 0...100
        let svg = chart.svg
        #expect(svg.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\"") && svg.hasSuffix("</svg>\n"))
        #expect(svg.components(separatedBy: "<polyline").count - 1 == 2)
        #expect(svg.components(separatedBy: "<circle").count - 1 == 5)
        #expect(svg.contains("a &lt; b &amp; c") && svg.contains("fc&quot;1&quot;") && !svg.contains("a < b"))
        // Plot area 70…550 × 40…385 for the default 720 × 440: (0, 90) sits at x 70, y 385 − 0.9 · 345 = 74.5.
        #expect(svg.contains("<circle cx=\"70.0\" cy=\"74.5\""))
        // (1, 10): x 550, y 385 − 34.5 = 350.5.
        #expect(svg.contains("<circle cx=\"550.0\" cy=\"350.5\""))
    }

    @Test func ticksAreRound() {
        #expect(LineChart.tickValues(0...1) == [0, 0.2, 0.4, 0.6, 0.8, 1.0])
        #expect(LineChart.tickValues(0...100) == [0, 20, 40, 60, 80, 100])
        #expect(LineChart.tickValues(3...3) == [3])
    }
}
