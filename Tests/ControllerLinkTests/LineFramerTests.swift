import ControllerLink
import Testing

@Suite("LineFramer")
struct LineFramerTests {
    private func lines(_ outputs: [LineFramer.Output]) -> [String] {
        outputs.compactMap { if case .line(let l) = $0 { l } else { nil } }
    }

    @Test func lfTerminatesALine() {
        var framer = LineFramer()
        #expect(framer.feed(Array("PING\n".utf8)) == [.line("PING")])
    }

    @Test func crlfCountsAsOneTerminator() {
        var framer = LineFramer()
        #expect(framer.feed(Array("PING\r\nREADY\r\n".utf8)) == [.line("PING"), .line("READY")])
    }

    @Test func crlfSplitAcrossReadsCountsOnce() {
        var framer = LineFramer()
        #expect(framer.feed(Array("PING\r".utf8)) == [.line("PING")])
        #expect(framer.feed(Array("\nPONG\n".utf8)) == [.line("PONG")])
    }

    @Test func loneCRTerminatesALine() {
        var framer = LineFramer()
        #expect(framer.feed(Array("A\rB\r".utf8)) == [.line("A"), .line("B")])
    }

    @Test func emptyLinesAreSkipped() {
        var framer = LineFramer()
        #expect(framer.feed(Array("\n\r\n\rPING\n\n".utf8)) == [.line("PING")])
    }

    @Test func partialLineWaitsForItsTerminator() {
        var framer = LineFramer()
        #expect(framer.feed(Array("VEND 1 ".utf8)).isEmpty)
        #expect(framer.pendingByteCount == 7)
        #expect(framer.feed(Array("A1 1.50".utf8)).isEmpty)
        #expect(framer.feed(Array("\n".utf8)) == [.line("VEND 1 A1 1.50")])
        #expect(framer.pendingByteCount == 0)
    }

    @Test func byteAtATimeYieldsTheSameLines() {
        var framer = LineFramer()
        var out: [LineFramer.Output] = []
        for byte in "HELLO a 1\r\nPING\rVEND x y 2\n".utf8 { out += framer.feed([byte]) }
        #expect(out == [.line("HELLO a 1"), .line("PING"), .line("VEND x y 2")])
    }

    @Test func burstOfManyLinesInOneRead() {
        var framer = LineFramer()
        let text = (0..<500).map { "PING \($0)\n" }.joined()
        let out = framer.feed(Array(text.utf8))
        #expect(out.count == 500)
        #expect(lines(out) == (0..<500).map { "PING \($0)" })
    }

    @Test func lineOfExactlyTheLimitIsAccepted() {
        var framer = LineFramer(maxLineBytes: 256)
        let line = String(repeating: "a", count: 256)
        #expect(framer.feed(Array((line + "\n").utf8)) == [.line(line)])
    }

    @Test func overlongLineIsReportedOnceAndDropped() {
        var framer = LineFramer(maxLineBytes: 256)
        var out = framer.feed(Array(String(repeating: "x", count: 300).utf8))
        out += framer.feed(Array(String(repeating: "y", count: 5000).utf8))
        #expect(out == [.error(.lineTooLong(limit: 256))])
        #expect(framer.pendingByteCount == 0)
    }

    @Test func overlongLineResyncsAtTheNextNewline() {
        var framer = LineFramer(maxLineBytes: 16)
        let out = framer.feed(Array((String(repeating: "z", count: 40) + "\nPING\n").utf8))
        #expect(out == [.error(.lineTooLong(limit: 16)), .line("PING")])
    }

    @Test func overlongLineAcrossReadsResyncsAfterCRLF() {
        var framer = LineFramer(maxLineBytes: 8)
        var out = framer.feed(Array("0123456789".utf8))
        out += framer.feed(Array("abc\r".utf8))
        out += framer.feed(Array("\nOK\r\n".utf8))
        #expect(out == [.error(.lineTooLong(limit: 8)), .line("OK")])
    }

    @Test func invalidUTF8LineBecomesOneErrorAndTheNextLineSurvives() {
        var framer = LineFramer()
        let bytes: [UInt8] = [0x50, 0xFF, 0xFE, 0x0A] + Array("PING\n".utf8)
        #expect(framer.feed(bytes) == [.error(.invalidUTF8(byteCount: 3)), .line("PING")])
    }

    @Test func multibyteCharacterSplitAcrossReadsIsKept() {
        var framer = LineFramer()
        let bytes = Array("FAILED 1 café\n".utf8)
        var out = framer.feed(bytes[0..<13])
        out += framer.feed(bytes[13...])
        #expect(out == [.line("FAILED 1 café")])
    }

    @Test func resetDropsThePartialLine() {
        var framer = LineFramer()
        _ = framer.feed(Array("HALF".utf8))
        framer.reset()
        #expect(framer.feed(Array("PING\n".utf8)) == [.line("PING")])
    }
}
