/// Text layout on a `Canvas` with FreeType glyphs: measuring, fitting, wrapping and drawing.
extension Canvas {
    /// Draws `text` with its baseline at `baseline`, starting at `x`.
    mutating func drawText(
        _ text: String, font: FontFace, size: Int, x: Int, baseline: Int, color: RGB
    ) throws(DisplayError) {
        var pen = x
        for scalar in text.unicodeScalars {
            let glyph = try font.glyph(scalar, size: size)
            let left = pen + glyph.left, top = baseline - glyph.top
            for row in 0..<glyph.rows {
                for col in 0..<glyph.width {
                    blend(x: left + col, y: top + row, color: color, coverage: glyph.coverage[row * glyph.width + col])
                }
            }
            pen += glyph.advance
        }
    }
}

/// One line of text ready to draw.
struct TextLine {
    var text: String
    var font: FontFace
    var size: Int
    var color: RGB
}

/// Where one line of text was drawn: for layout tests (nothing cut, inside its area, off the QR).
struct PlacedText: Hashable {
    var text: String
    var size: Int
    /// The line's box: its drawn width, from the top of its line height to the bottom.
    var rect: Rect
}

enum TextLayout {
    static func width(_ text: String, font: FontFace, size: Int) throws(DisplayError) -> Int {
        var total = 0
        for scalar in text.unicodeScalars { total += try font.glyph(scalar, size: size).advance }
        return total
    }

    /// The largest size up to `maxSize` at which `text` fits `width` (never below `minSize`).
    static func fittingSize(
        _ text: String, font: FontFace, maxSize: Int, minSize: Int = 8, width: Int
    ) throws(DisplayError) -> Int {
        var size = maxSize
        while size > minSize, try self.width(text, font: font, size: size) > width {
            size = max(minSize, size * 9 / 10)
        }
        return size
    }

    /// `text` cut with an ellipsis so that it fits `width`.
    static func truncated(_ text: String, font: FontFace, size: Int, width: Int) throws(DisplayError) -> String {
        if try self.width(text, font: font, size: size) <= width { return text }
        var scalars = Array(text.unicodeScalars)
        while !scalars.isEmpty {
            scalars.removeLast()
            var candidate = String(String.UnicodeScalarView(scalars))
            candidate += "…"
            if try self.width(candidate, font: font, size: size) <= width { return candidate }
        }
        return ""
    }

    /// Greedy word wrap into at most `maxLines` lines; words longer than a line are broken, and the
    /// last line is cut with an ellipsis when the text does not fit.
    static func wrap(
        _ text: String, font: FontFace, size: Int, width: Int, maxLines: Int
    ) throws(DisplayError) -> [String] {
        var lines: [String] = []
        var current = ""
        var words = text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        var index = 0
        while index < words.count {
            let word = words[index]
            let candidate = current.isEmpty ? word : current + " " + word
            if try self.width(candidate, font: font, size: size) <= width {
                current = candidate
                index += 1
                continue
            }
            if current.isEmpty {
                // A single word wider than the line (a URL, an id): break it where it overflows.
                var head = ""
                var rest = Substring(word)
                while let first = rest.first, try self.width(head + String(first), font: font, size: size) <= width {
                    head.append(first)
                    rest = rest.dropFirst()
                }
                if head.isEmpty, let first = rest.first {
                    head = String(first)
                    rest = rest.dropFirst()
                }
                lines.append(head)
                words[index] = String(rest)
                if rest.isEmpty { index += 1 }
            } else {
                lines.append(current)
                current = ""
            }
        }
        if !current.isEmpty { lines.append(current) }
        if lines.count > maxLines {
            let kept = Array(lines.prefix(maxLines - 1))
            let tail = lines[(maxLines - 1)...].joined(separator: " ")
            return kept + [try truncated(tail + "…", font: font, size: size, width: width)]
        }
        return lines
    }

    /// The largest size from `maxSize` down to `minSize` at which `text` wraps into at most
    /// `maxLines` lines without a cut, and those lines; at `minSize` the last line is cut.
    static func fit(
        _ text: String, font: FontFace, maxSize: Int, minSize: Int, width: Int, maxLines: Int
    ) throws(DisplayError) -> (size: Int, lines: [String]) {
        var size = max(maxSize, minSize)
        while true {
            let all = try wrap(text, font: font, size: size, width: width, maxLines: Int.max)
            if all.count <= maxLines { return (size, all) }
            if size <= minSize {
                return (size, try wrap(text, font: font, size: size, width: width, maxLines: maxLines))
            }
            size = max(minSize, size * 9 / 10)
        }
    }

    /// The height `drawBlock` gives `lines` before any shrinking.
    static func blockHeight(_ lines: [TextLine]) throws(DisplayError) -> Int {
        var total = 0
        for line in lines {
            let m = try line.font.lineMetrics(size: line.size)
            total += m.ascent + m.descent + line.size / 4
        }
        return total
    }

    /// `text` fitted (`fit`) as lines of one font, size and colour.
    static func fitted(
        _ text: String, font: FontFace, maxSize: Int, minSize: Int, width: Int, maxLines: Int, color: RGB
    ) throws(DisplayError) -> [TextLine] {
        let (size, lines) = try fit(
            text, font: font, maxSize: maxSize, minSize: minSize, width: width, maxLines: maxLines)
        return lines.map { TextLine(text: $0, font: font, size: size, color: color) }
    }

    /// Draws `lines` centred vertically in `box`, each either centred or left-aligned, with a
    /// little leading; shrinks every line together (down to `minSize`) when they are too tall
    /// for the box. Returns
    /// where each line went.
    @discardableResult
    static func drawBlock(
        _ lines: [TextLine], in box: Rect, centered: Bool, minSize: Int = 8, on canvas: inout Canvas
    ) throws(DisplayError) -> [PlacedText] {
        var lines = lines
        var heights: [Int] = []
        // Large lines (the price) give way first: none shrinks below `minSize`.
        for _ in 0..<12 {
            heights = []
            for line in lines {
                let m = try line.font.lineMetrics(size: line.size)
                heights.append(m.ascent + m.descent + line.size / 4)
            }
            if heights.reduce(0, +) <= box.height { break }
            lines = lines.map {
                var l = $0; l.size = max(min(minSize, l.size), l.size * 9 / 10); return l
            }
        }
        var y = box.y + max(0, (box.height - heights.reduce(0, +)) / 2)
        var placed: [PlacedText] = []
        for (line, height) in zip(lines, heights) {
            let m = try line.font.lineMetrics(size: line.size)
            let text = try truncated(line.text, font: line.font, size: line.size, width: box.width)
            let w = try width(text, font: line.font, size: line.size)
            let x = centered ? box.x + (box.width - w) / 2 : box.x
            try canvas.drawText(
                text, font: line.font, size: line.size, x: x, baseline: y + line.size / 8 + m.ascent, color: line.color)
            placed.append(PlacedText(text: text, size: line.size, rect: Rect(x: x, y: y, width: w, height: height)))
            y += height
        }
        return placed
    }
}
