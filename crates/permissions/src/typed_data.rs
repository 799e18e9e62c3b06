//! EIP-712 type strings for typed-data permissions (`FLAG_TYPED_DATA`): `"Offer(address buyer,uint256 price)"` →
//! the type hash and the primary type's members, so that rules name members and read their values by type.
//!
//! The string is the full `encodeType` of the primary type, exactly as EIP-712 hashes it: the primary type, then
//! the struct types it references (directly or not), sorted by name, each `Name(type name,…)` with no spaces but the
//! one between a member's type and its name. Anything else would hash to a type hash no app uses, so it is refused
//! rather than normalised.
//!
//! In `encodeData` every member is one 32-byte word: atomic members (`address`, `bool`, `uintN`, `intN`,
//! `bytesN`) as themselves, `string` and `bytes` as the keccak256 of their contents, arrays and structs as hashes.
//! Word 0 of `typeHash ‖ encodeData` is the type hash and word k (k >= 1) is the k-th member.

use std::collections::{BTreeSet, HashMap};

use alloy_primitives::{keccak256, B256};

use crate::function::{parse_type, ParamType};

/// How a member is encoded in `encodeData`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MemberKind {
    /// An atomic static type (`address`, `bool`, `uintN`, `intN`, `bytesN`): the word is its value, rules can check
    /// it.
    Static(ParamType),
    /// `string` or `bytes`: the word is the keccak256 of the contents.
    Dynamic,
    /// An array (`T[]`, `T[N]`): the word is the keccak256 of its encoded elements.
    Array,
    /// A struct: the word is its `hashStruct`.
    Struct(String),
}

/// One member of a struct type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TypeMember {
    /// The member's name.
    pub name: String,
    /// Its type, as written (`uint256`, `Person[]`, `string`).
    pub ty: String,
    /// How it is encoded.
    pub kind: MemberKind,
}

impl TypeMember {
    /// The member's type when it is static (one word that rules can check).
    pub fn static_type(&self) -> Option<&ParamType> {
        match &self.kind {
            MemberKind::Static(ty) => Some(ty),
            _ => None,
        }
    }
}

/// A parsed EIP-712 `encodeType` string: the primary type's name and members (see the [module](self) docs).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TypedDataType {
    /// The primary type's name (`Offer`).
    pub name: String,
    /// The primary type's members, in order: member k (0-based) is word k + 1 of `typeHash ‖ encodeData`.
    pub members: Vec<TypeMember>,
    /// The string as given (and hashed).
    pub encode_type: String,
}

/// One `Name(type name,…)` of the string.
struct Definition {
    name: String,
    members: Vec<TypeMember>,
}

impl TypedDataType {
    /// Parses and checks a full `encodeType` string; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut definitions: Vec<Definition> = Vec::new();
        let mut rest = text;
        if rest.is_empty() {
            return Err("empty type string".into());
        }
        while !rest.is_empty() {
            let (definition, after) = parse_definition(text, rest)?;
            if definitions.iter().any(|d| d.name == definition.name) {
                return Err(format!("type {} is defined twice", definition.name));
            }
            definitions.push(definition);
            rest = after;
        }
        let index: HashMap<&str, &Definition> =
            definitions.iter().map(|d| (d.name.as_str(), d)).collect();
        // every struct referenced (directly or not) by the primary type, which EIP-712 appends sorted by name
        let primary = &definitions[0];
        let mut referenced: BTreeSet<&str> = BTreeSet::new();
        let mut stack: Vec<&Definition> = vec![primary];
        while let Some(definition) = stack.pop() {
            for member in &definition.members {
                let Some(base) = struct_base(member) else {
                    continue;
                };
                let Some(found) = index.get(base) else {
                    return Err(format!(
                        "member {} of {} has type {}, which the string does not define (append \
                         {base}(…) after the primary type)",
                        member.name, definition.name, member.ty
                    ));
                };
                if base != primary.name && referenced.insert(base) {
                    stack.push(found);
                }
            }
        }
        let appended: Vec<&str> = definitions[1..].iter().map(|d| d.name.as_str()).collect();
        let expected: Vec<&str> = referenced.into_iter().collect();
        if appended != expected {
            if let Some(extra) = appended.iter().find(|name| !expected.contains(name)) {
                return Err(format!(
                    "type {extra} is not referenced by {}: EIP-712 appends only the referenced types",
                    primary.name
                ));
            }
            return Err(format!(
                "the referenced types must follow the primary type sorted by name: {}",
                expected.join(", ")
            ));
        }
        let Some(primary) = definitions.into_iter().next() else {
            return Err("empty type string".into());
        };
        Ok(Self {
            name: primary.name,
            members: primary.members,
            encode_type: text.to_owned(),
        })
    }

    /// `keccak256(encodeType)`.
    pub fn type_hash(&self) -> B256 {
        keccak256(self.encode_type.as_bytes())
    }

    /// The member named `name` and its word index (1-based: word 0 is the type hash).
    pub fn member(&self, name: &str) -> Option<(u16, &TypeMember)> {
        let position = self.members.iter().position(|m| m.name == name)?;
        let word = u16::try_from(position + 1).ok()?;
        Some((word, &self.members[position]))
    }

    /// The member at word `word` (1-based), if any.
    pub fn member_at(&self, word: u16) -> Option<&TypeMember> {
        usize::from(word)
            .checked_sub(1)
            .and_then(|i| self.members.get(i))
    }
}

/// The struct a member refers to (through arrays too), if any.
fn struct_base(member: &TypeMember) -> Option<&str> {
    let base = member.ty.split('[').next().unwrap_or(&member.ty);
    match &member.kind {
        MemberKind::Struct(name) => Some(name),
        MemberKind::Array if classify_base(base).ok().flatten().is_none() => Some(base),
        _ => None,
    }
}

/// `Name(type name,…)` at the start of `rest`; the definition and what follows it.
fn parse_definition<'a>(text: &str, rest: &'a str) -> Result<(Definition, &'a str), String> {
    let at = |r: &str| text.len() - r.len();
    let (name, mut rest) =
        take_identifier(rest).ok_or_else(|| format!("expected a type name at {}", at(rest)))?;
    if classify_base(name)?.is_some() {
        return Err(format!("{name} is an atomic type, not a struct name"));
    }
    rest = rest.strip_prefix('(').ok_or_else(|| {
        format!(
            "expected '(' after {name} at {} (no spaces anywhere but between a member's type and its name)",
            at(rest)
        )
    })?;
    let mut members: Vec<TypeMember> = Vec::new();
    if let Some(after) = rest.strip_prefix(')') {
        return Ok((
            Definition {
                name: name.to_owned(),
                members,
            },
            after,
        ));
    }
    loop {
        let (ty, after) = take_type(rest).ok_or_else(|| {
            format!(
                "expected a member type at {} (members are `type name`, separated by ',' without spaces)",
                at(rest)
            )
        })?;
        let kind = classify(ty)?;
        let after = after.strip_prefix(' ').ok_or_else(|| {
            format!(
                "expected one space between the type {ty} and the member name at {}",
                at(after)
            )
        })?;
        let (member, after) = take_identifier(after)
            .ok_or_else(|| format!("expected a member name at {}", at(after)))?;
        if members.iter().any(|m| m.name == member) {
            return Err(format!("member {member} of {name} is named twice"));
        }
        members.push(TypeMember {
            name: member.to_owned(),
            ty: ty.to_owned(),
            kind,
        });
        if let Some(after) = after.strip_prefix(',') {
            rest = after;
        } else if let Some(after) = after.strip_prefix(')') {
            return Ok((
                Definition {
                    name: name.to_owned(),
                    members,
                },
                after,
            ));
        } else {
            return Err(match after.chars().next() {
                Some(c) => format!("expected ',' or ')' at {}, found {c:?}", at(after)),
                None => format!("unclosed member list of {name}"),
            });
        }
    }
}

/// An EIP-712 identifier (`[A-Za-z_$][A-Za-z0-9_$]*`) at the start of `text`, and what follows it.
fn take_identifier(text: &str) -> Option<(&str, &str)> {
    let end = text
        .char_indices()
        .find(|&(i, c)| {
            !(c.is_ascii_alphabetic() || c == '_' || c == '$' || (i > 0 && c.is_ascii_digit()))
        })
        .map_or(text.len(), |(i, _)| i);
    (end > 0).then(|| text.split_at(end))
}

/// A member type (an identifier and array suffixes `[]` / `[N]`) at the start of `text`, and what follows it.
fn take_type(text: &str) -> Option<(&str, &str)> {
    let (base, _) = take_identifier(text)?;
    let mut end = base.len();
    while text[end..].starts_with('[') {
        let close = text[end..].find(']')?;
        let digits = &text[end + 1..end + close];
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        end += close + 1;
    }
    Some(text.split_at(end))
}

/// How a member type is encoded; refuses malformed array lengths and non-EIP-712 atomic names.
fn classify(ty: &str) -> Result<MemberKind, String> {
    let (base, suffix) = ty.split_at(ty.find('[').unwrap_or(ty.len()));
    for dimension in suffix.split_terminator(']') {
        let digits = dimension.trim_start_matches('[');
        if !digits.is_empty() && (digits.starts_with('0') || digits.parse::<u64>().is_err()) {
            return Err(format!("bad array length in {ty}"));
        }
    }
    let base_kind = classify_base(base)?;
    if !suffix.is_empty() {
        return Ok(MemberKind::Array);
    }
    Ok(base_kind.unwrap_or_else(|| MemberKind::Struct(base.to_owned())))
}

/// An atomic or dynamic type's kind, `None` for a struct name; errors for names EIP-712 does not have.
fn classify_base(base: &str) -> Result<Option<MemberKind>, String> {
    match base {
        "string" | "bytes" => return Ok(Some(MemberKind::Dynamic)),
        "uint" | "int" => {
            return Err(format!(
                "EIP-712 has no {base}: write {base}256 (the type hash is over the exact string)"
            ))
        }
        "byte" => return Err("EIP-712 has no byte: write bytes1".into()),
        "function" | "tuple" => return Err(format!("{base} is not an EIP-712 type")),
        _ => {}
    }
    let atomic_like = ["uint", "int", "bytes", "fixed", "ufixed"]
        .iter()
        .any(|prefix| {
            base.strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        });
    if !atomic_like && base != "address" && base != "bool" {
        return Ok(None);
    }
    match parse_type(base) {
        Ok(ty) if ty.is_elementary() && ty != ParamType::Function && ty.canonical() == base => {
            Ok(Some(MemberKind::Static(ty)))
        }
        _ => Err(format!("{base} is not an EIP-712 type")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const OFFER: &str = "Offer(address buyer,address collection,uint256 tokenId,address currency,uint256 price,uint256 nonce,uint256 deadline)";

    #[test]
    fn parses_the_primary_type() {
        let ty = TypedDataType::parse(OFFER).unwrap();
        assert_eq!(ty.name, "Offer");
        assert_eq!(ty.members.len(), 7);
        assert_eq!(ty.member("price").unwrap().0, 5);
        assert_eq!(
            ty.member("price").unwrap().1.kind,
            MemberKind::Static(ParamType::Uint(256))
        );
        assert_eq!(ty.member_at(1).unwrap().name, "buyer");
        assert!(ty.member_at(0).is_none());
        assert!(ty.member_at(8).is_none());
        assert_eq!(ty.type_hash(), keccak256(OFFER));
        let empty = TypedDataType::parse("Ping()").unwrap();
        assert!(empty.members.is_empty());
    }

    #[test]
    fn nested_types() {
        let mail = "Mail(Person from,Person[] to,string contents,bytes32 tag)Person(string name,address[] wallets)";
        let ty = TypedDataType::parse(mail).unwrap();
        assert_eq!(ty.members[0].kind, MemberKind::Struct("Person".into()));
        assert_eq!(ty.members[1].kind, MemberKind::Array);
        assert_eq!(ty.members[2].kind, MemberKind::Dynamic);
        assert_eq!(
            ty.members[3].kind,
            MemberKind::Static(ParamType::FixedBytes(32))
        );
        // the EIP-712 example's `Mail` type hash
        let eip712 =
            "Mail(Person from,Person to,string contents)Person(string name,address wallet)";
        assert_eq!(
            TypedDataType::parse(eip712)
                .unwrap()
                .type_hash()
                .to_string(),
            "0xa0cedeb2dc280ba39b857546d74f5549c3a1d7bdc2dd96bf881f76108e23dac2"
        );
        // indirect references, sorted by name; recursive types are not appended
        let deep = "A(B b,A[] children)B(C c)C(uint8 x)";
        assert!(TypedDataType::parse(deep).is_ok());
    }

    #[test]
    fn refuses_malformed_strings() {
        for bad in [
            "",
            "Offer",
            "Offer(",
            "Offer(uint256 price",
            "Offer(uint256 price,)",
            "Offer(uint256)",
            "Offer (uint256 price)",
            "Offer(uint256 price, address buyer)",
            "Offer(uint256  price)",
            "Offer(uint price)",
            "Offer(uint7 price)",
            "Offer(bytes33 tag)",
            "Offer(byte b)",
            "Offer(function f)",
            "Offer(fixed128x18 f)",
            "Offer(uint256 price,uint256 price)",
            "Offer(uint256 1price)",
            "1Offer(uint256 price)",
            "uint256(uint256 price)",
            "Offer(uint256[0] prices)",
            "Offer(uint256[01] prices)",
            "Offer(uint256[x] prices)",
            "Offer(Item item)",
            "Offer(Item item)Item(uint8 a)Extra(uint8 b)",
            "Offer(B b,A a)B(uint8 x)A(uint8 y)",
            "Offer(uint256 price)Offer(uint256 price)",
            "Offer(uint256 price) ",
            "Offer(uint256 price)x",
        ] {
            assert!(TypedDataType::parse(bad).is_err(), "{bad:?}");
        }
        assert!(TypedDataType::parse("Offer(B b,A a)A(uint8 y)B(uint8 x)").is_ok());
    }
}
