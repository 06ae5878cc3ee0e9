/// Builds an XML document; elements with no content are written self-closed, as AWS writes `<ReceiveMessageResult/>`.
struct XMLWriter {
    private(set) var text = ""

    mutating func raw(_ fragment: String) { text += fragment }

    mutating func element(_ name: String, attributes: String = "", _ content: (inout XMLWriter) -> Void) {
        text += "<\(name)\(attributes)>"
        let mark = text.utf8.count
        content(&self)
        if text.utf8.count == mark {
            text.removeLast()
            text += "/>"
        } else {
            text += "</\(name)>"
        }
    }

    mutating func element(_ name: String, text value: String) {
        text += value.isEmpty ? "<\(name)/>" : "<\(name)>\(Self.escape(value))</\(name)>"
    }

    /// Escapes markup and, as AWS does, `\r` as `&#xD;`: a parser folds a raw CR LF into LF, which would change the
    /// body and break its MD5. Characters XML 1.0 forbids even as references (controls other than tab, LF and CR;
    /// U+FFFE, U+FFFF) become U+FFFD, so no value, stored or echoed, can make a document a client cannot parse.
    static func escape(_ value: String) -> String {
        var out = ""
        out.reserveCapacity(value.utf8.count)
        for scalar in value.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "\r": out += "&#xD;"
            case "\t", "\n": out.unicodeScalars.append(scalar)
            case "\u{0}"..."\u{1F}", "\u{FFFE}", "\u{FFFF}": out += "\u{FFFD}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
