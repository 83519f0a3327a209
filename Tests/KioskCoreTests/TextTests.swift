import Foundation
import KioskCore
import Testing

/// The FoundationEssentials stand-ins in KioskCore give what the Foundation calls they replace gave.
@Suite struct TextTests {
    @Test(arguments: [
        ("a\"b\"", "\"", "\\\"", "a\\\"b\\\""),
        ("line1\r\nline2", "\n", " ", "line1\r line2"),  // the \n inside a \r\n grapheme
        ("q\"\u{301}", "\"", "'", "q'\u{301}"),  // a quote with a combining mark after it
        ("aaaa", "aa", "b", "bb"),
        ("abc", "", "x", "abc"),
        ("1|secret token 1|secret", "1|secret", "<redacted>", "<redacted> token <redacted>"),
    ])
    func replacingAllMatchesFoundationsLiteralReplacement(text: String, target: String, with: String, expected: String)
    {
        #expect(text.replacingAll(target, with: with) == expected)
        #expect(
            text.replacingAll(target, with: with)
                == text.replacingOccurrences(of: target, with: with, options: .literal))
    }

    @Test(arguments: [" \t x y \n", "\u{A0}\u{2003}a\u{2028}", "", "  ", "\r\nq\r\n", "plain"])
    func trimmingMatchesFoundationsCharacterSets(text: String) {
        #expect(text.trimmingWhitespaceAndNewlines() == text.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(text.trimmingWhitespace() == text.trimmingCharacters(in: .whitespaces))
    }

    @Test(arguments: ["a%20b", "%E2%82%AC", "100%", "%zz", "%C3", "a+b", "plain", "%41%4a%4A"])
    func percentDecodingMatchesFoundation(text: String) {
        #expect(text.percentDecoded == text.removingPercentEncoding)
    }

    @Test func percentEncodingWritesUpperCaseHexForUTF8Bytes() {
        let kept: (UInt8) -> Bool = { $0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z") }
        #expect("ab/c€".percentEncoded(keeping: kept) == "ab%2Fc%E2%82%AC")
    }

    @Test func paddingCutsOrFillsToTheLength() {
        #expect("ab".padded(toLength: 4) == "ab  ")
        #expect("abcdef".padded(toLength: 3) == "abc")
        #expect("abc".padded(toLength: 3) == "abc")
    }
}

@Suite struct FileStatusTests {
    @Test func tellsDirectoriesFilesLinksAndSizes() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("filestatus-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/f"
        try Data("12345".utf8).write(to: URL(fileURLWithPath: file))
        try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: file)
        try FileManager.default.createSymbolicLink(atPath: dir + "/link", withDestinationPath: dir)

        #expect(FileStatus.isDirectory(dir))
        #expect(FileStatus.isDirectory(dir + "/link"))  // followed, as fileExists(atPath:isDirectory:)
        #expect(!FileStatus.isDirectory(file))
        #expect(FileStatus.exists(file))
        #expect(!FileStatus.exists(dir + "/missing"))
        #expect(FileStatus.size(file) == 5)
        #expect(FileStatus.size(dir + "/missing") == nil)
        #expect(FileStatus.permissionsOfItem(file) == 0o640)
        #expect(FileStatus.permissionsOfItem(dir + "/link") == 0o777)  // the link itself, not followed
    }

    @Test func aFailedWriteIsExplainedByItsErrno() {
        do {
            try Data("x".utf8).write(
                to: URL(fileURLWithPath: "/nonexistent-\(UUID().uuidString)/x.csv"), options: .atomic)
            Issue.record("the write succeeded")
        } catch {
            #expect(FileStatus.reason(of: error) == "No such file or directory")
        }
    }
}

@Suite struct StandardStreamTests {
    @Test func writesEveryByteToTheDescriptor() throws {
        var fds: [Int32] = [-1, -1]
        #expect(pipe(&fds) == 0)
        defer { close(fds[0]) }
        let text = String(repeating: "0123456789", count: 5000)  // 50 KB: below the pipe's buffer
        StandardStream(fileDescriptor: fds[1]).write(text)
        close(fds[1])
        var got: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fds[0], &buffer, buffer.count)
            if n <= 0 { break }
            got += buffer[0..<n]
        }
        #expect(String(decoding: got, as: UTF8.self) == text)
    }
}

@Suite struct ThreadTests {
    @Test func aStartedThreadRunsItsBodyAndTheLockGuards() async {
        let lock = ThreadLock()
        final class Counter: @unchecked Sendable { var value = 0 }
        let counter = Counter()
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            startThread(name: "test-thread-with-a-long-name") {
                for _ in 0..<1000 { lock.withLock { counter.value += 1 } }
                done.resume()
            }
        }
        #expect(lock.withLock { counter.value } == 1000)
    }
}
