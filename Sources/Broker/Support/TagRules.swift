/// AWS's tagging rules, shared by queues and topics.
enum TagRules {
    /// Letters and numbers of any script, spaces, and `_ . : / = + - @`: what AWS accepts in tag keys and values.
    static func hasTagCharacters(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy { scalar in
            scalar.properties.isAlphabetic || scalar.properties.numericType != nil || scalar == " "
                || "_.:/=+-@".unicodeScalars.contains(scalar)
        }
    }
}
