// Reports: table alignment, number formatting, stable JSON.
import Reports
import Testing

@Suite struct ReportsTests {
    @Test func tableAlignsNumbersRightAndTextLeft() {
        var table = TextTable(headers: ["name", "value"])
        table.append(["a", "1"])
        table.append(["long name", "12,345"])
        let lines = table.description.split(separator: "\n").map(String.init)
        #expect(lines[0] == "name        value")
        #expect(lines[2] == "a               1")
        #expect(lines[3] == "long name  12,345")
    }

    @Test func numberFormatting() {
        #expect(groupedThousands(421_642) == "421,642")
        #expect(groupedThousands(-1_000) == "-1,000")
        #expect(groupedThousands(999) == "999")
        #expect(formattedBytes(512) == "512 B")
        #expect(formattedBytes(1_686_568) == "1.61 MiB")
    }

    @Test func jsonIsSortedAndStable() throws {
        struct Sample: Encodable { var zeta = 1; var alpha = "a/b" }
        let text = try jsonString(Sample())
        #expect(text == "{\n  \"alpha\" : \"a/b\",\n  \"zeta\" : 1\n}")
    }
}
