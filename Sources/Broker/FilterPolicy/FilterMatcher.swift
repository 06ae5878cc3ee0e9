/// Matching a compiled policy against one message.
///
/// Attribute scope: each field looks at one attribute; a `String.Array` offers each element. Body scope: fields are
/// dotted paths into the body's JSON; nested objects and dotted keys are interchangeable (`{"a": {"b": 1}}` and
/// `{"a.b": 1}` both have the field `a.b`), and arrays are transparent — a field matches when any element does.
///
/// Arrays of objects are matched array-consistently, as AWS's rule engine (Event Ruler) matches JSON events and as
/// LocalStack reproduces for S3 `Records`: fields that reach into the same array must be satisfied by the same element. `Records: [{"name": "a", "size": 1}, {"name": "b", "size": 2}]`
/// does not match `{"Records": {"name": ["a"], "size": [2]}}`. The body tree is walked with the branch's fields all
/// at once: an array node needs one element that satisfies every field entering it; an object node routes each field
/// into the member whose key continues its path.
extension CompiledFilterPolicy {
    // MARK: Attributes

    func matchesAttributes(_ input: inout FilterInput) -> Bool {
        if branches.isEmpty { return true }
        guard !input.attributes.isEmpty else { return false }
        branchLoop: for branch in branches {
            var sawValue = false
            for field in branch.fields {
                switch Self.matchAttribute(field, &input) {
                case .unmatched: continue branchLoop
                case .matchedValue: sawValue = true
                case .matchedAbsence: break
                }
            }
            // AWS: "`exists: false` only matches if at least one attribute is present. An empty set of attributes
            // results in the filter not matching." Only a branch met purely by absences needs the (lazy) count.
            if sawValue || input.eligibleAttributeCount() > 0 { return true }
        }
        return false
    }

    private enum AttributeOutcome {
        case unmatched
        case matchedValue
        case matchedAbsence
    }

    private static func matchAttribute(_ field: FilterField, _ input: inout FilterInput) -> AttributeOutcome {
        switch input.attribute(field.name) {
        case .absent:
            return field.allowsAbsence ? .matchedAbsence : .unmatched
        case .value(let value):
            if field.allowsAbsence, !FilterPattern.isPresentValue(value) { return .matchedAbsence }
            return field.patterns.contains { $0.matches(value) } ? .matchedValue : .unmatched
        case .elements(let elements):
            if field.allowsAbsence, !elements.contains(where: FilterPattern.isPresentValue) { return .matchedAbsence }
            for element in elements where field.patterns.contains(where: { $0.matches(element) }) { return .matchedValue }
            return .unmatched
        case .opaque:
            return field.patterns.contains { if case .exists = $0 { true } else { false } } ? .matchedValue : .unmatched
        }
    }

    // MARK: Body

    func matchesBody(_ input: inout FilterInput) -> Bool {
        if branches.isEmpty { return true }
        // A body that is not a JSON object matches nothing; one without a single value is like an empty attribute set.
        guard let body = input.bodyObject(), body.hasLeaves else { return false }
        // Dotted and duplicate keys can give one field several members to continue into; the search then tries
        // combinations. The budget bounds that work on hostile bodies: an ordinary body needs at most one visit per
        // node (far below 16 per byte), and when a hostile one exhausts it the message does not match.
        for branch in branches {
            var walk = BodyWalk(fields: branch.fields, budget: 16 * input.body.utf8.count + 10_000)
            if walk.matchesBranch(body.members) { return true }
        }
        return false
    }
}

/// Per-field positions in their paths during a walk, for up to ``CompiledFilterPolicy/maximumFieldsPerBranch``
/// fields, stored inline so walking a body allocates nothing.
private struct FieldCursors {
    private var c0 = 0, c1 = 0, c2 = 0, c3 = 0, c4 = 0, c5 = 0

    subscript(index: Int) -> Int {
        get {
            switch index {
            case 0: c0
            case 1: c1
            case 2: c2
            case 3: c3
            case 4: c4
            default: c5
            }
        }
        set {
            switch index {
            case 0: c0 = newValue
            case 1: c1 = newValue
            case 2: c2 = newValue
            case 3: c3 = newValue
            case 4: c4 = newValue
            default: c5 = newValue
            }
        }
    }
}

/// One branch walked over one body. Fields are referred to by index and sets of fields by bit masks.
private struct BodyWalk {
    let fields: [FilterField]
    var budget: Int

    init(fields: [FilterField], budget: Int) {
        self.fields = fields
        self.budget = budget
    }

    mutating func matchesBranch(_ root: [JSONValue.Member]) -> Bool {
        var mask: UInt32 = 0
        for (index, field) in fields.enumerated() {
            if field.allowsAbsence {
                // `exists: false` holds when the path has no value anywhere in the body.
                if !isPresent(field, in: root) { continue }
                // Present: only the field's other patterns can match now.
                if field.patterns.isEmpty { return false }
            }
            mask |= 1 << UInt32(index)
        }
        if mask == 0 { return true }
        return matchObject(root, mask: mask, cursors: FieldCursors())
    }

    // MARK: Presence

    private mutating func isPresent(_ field: FilterField, in members: [JSONValue.Member]) -> Bool {
        for member in members {
            if let next = field.advance(0, over: member.key), isPresent(field, cursor: next, in: member.value) {
                return true
            }
        }
        return false
    }

    private mutating func isPresent(_ field: FilterField, cursor: Int, in value: JSONValue) -> Bool {
        budget -= 1
        guard budget >= 0 else { return false }
        switch value {
        case .array(let elements):
            for element in elements where isPresent(field, cursor: cursor, in: element) { return true }
            return false
        case .object(let members):
            for member in members {
                if let next = field.advance(cursor, over: member.key), isPresent(field, cursor: next, in: member.value) {
                    return true
                }
            }
            return false
        default:
            return cursor == field.consumed && FilterPattern.isPresentValue(value)
        }
    }

    // MARK: Matching

    /// Whether every field in `mask`, at its cursor, is satisfied inside `value`, consistently across arrays.
    private mutating func matchNode(_ value: JSONValue, mask: UInt32, cursors: FieldCursors) -> Bool {
        budget -= 1
        guard budget >= 0 else { return false }
        switch value {
        case .array(let elements):
            // Fields entering the same array must all be satisfied by one element.
            for element in elements where matchNode(element, mask: mask, cursors: cursors) { return true }
            return false
        case .object(let members):
            return matchObject(members, mask: mask, cursors: cursors)
        default:
            var remaining = mask
            while remaining != 0 {
                let index = remaining.trailingZeroBitCount
                remaining &= remaining - 1
                let field = fields[index]
                guard cursors[index] == field.consumed, field.patterns.contains(where: { $0.matches(value) }) else {
                    return false
                }
            }
            return true
        }
    }

    private mutating func matchObject(_ members: [JSONValue.Member], mask: UInt32, cursors: FieldCursors) -> Bool {
        // A field whose path is complete needs a value here, not an object (`exists` applies to leaves only).
        var remaining = mask
        while remaining != 0 {
            let index = remaining.trailingZeroBitCount
            remaining &= remaining - 1
            if cursors[index] == fields[index].consumed { return false }
        }

        // Which fields some member continues, and whether any field has a choice of members.
        var routedOnce: UInt32 = 0
        var routedTwice: UInt32 = 0
        for member in members {
            let routable = routes(member.key, mask: mask, cursors: cursors)
            routedTwice |= routedOnce & routable
            routedOnce |= routable
        }
        guard routedOnce == mask else { return false }

        if routedTwice == 0 {
            // The usual case: each field continues into exactly one member; members are independent.
            for member in members {
                var childCursors = cursors
                let routable = routes(member.key, mask: mask, cursors: cursors, advancing: &childCursors)
                if routable != 0, !matchNode(member.value, mask: routable, cursors: childCursors) { return false }
            }
            return true
        }
        return matchObjectWithChoices(members, mask: mask, cursors: cursors)
    }

    /// The fields of `mask` whose path continues with `key`.
    private func routes(_ key: String, mask: UInt32, cursors: FieldCursors) -> UInt32 {
        var ignored = cursors
        return routes(key, mask: mask, cursors: cursors, advancing: &ignored)
    }

    /// The fields of `mask` whose path continues with `key`, writing their cursors after it into `childCursors`.
    private func routes(_ key: String, mask: UInt32, cursors: FieldCursors, advancing childCursors: inout FieldCursors) -> UInt32 {
        var routable: UInt32 = 0
        var remaining = mask
        while remaining != 0 {
            let index = remaining.trailingZeroBitCount
            remaining &= remaining - 1
            if let next = fields[index].advance(cursors[index], over: key) {
                routable |= 1 << UInt32(index)
                childCursors[index] = next
            }
        }
        return routable
    }

    /// Some field can continue into more than one member (duplicate keys, or `a.b` next to `a`). Each member takes a
    /// subset of the fields it can continue; the object matches when the subsets can cover the mask. `reach` is the
    /// set of field subsets coverable by the members seen so far, as a bit set over masks (six fields: 64 masks).
    private mutating func matchObjectWithChoices(_ members: [JSONValue.Member], mask: UInt32, cursors: FieldCursors) -> Bool {
        var reach: UInt64 = 1 // the empty subset
        for member in members {
            var childCursors = cursors
            let routable = routes(member.key, mask: mask, cursors: cursors, advancing: &childCursors)
            guard routable != 0 else { continue }
            var next = reach
            var subset = routable
            while subset != 0 {
                var extendable: UInt64 = 0
                for covered in 0..<64 where reach & (1 << UInt64(covered)) != 0 && UInt32(covered) & subset == 0 {
                    if next & (1 << UInt64(UInt32(covered) | subset)) == 0 { extendable |= 1 << UInt64(covered) }
                }
                if extendable != 0, matchNode(member.value, mask: subset, cursors: childCursors) {
                    for covered in 0..<64 where extendable & (1 << UInt64(covered)) != 0 {
                        next |= 1 << UInt64(UInt32(covered) | subset)
                    }
                }
                subset = (subset - 1) & routable
            }
            reach = next
            if reach & (1 << UInt64(mask)) != 0 { return true }
        }
        return reach & (1 << UInt64(mask)) != 0
    }
}
