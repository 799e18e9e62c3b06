//! Solidity function signatures: `"transfer(address to,uint256 amount)"` → selector, argument names and the
//! layout of the calldata head, so that argument rules are written by name and their encodings derived.

use alloy_primitives::{keccak256, FixedBytes};

/// Most head words a signature may describe (an `argIndex` is a `uint16`).
pub const MAX_HEAD_WORDS: usize = 1 << 16;

/// A Solidity ABI type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ParamType {
    /// `address`
    Address,
    /// `bool`
    Bool,
    /// `uintN`, N in 8..=256 by 8
    Uint(u16),
    /// `intN`, N in 8..=256 by 8
    Int(u16),
    /// `bytesN`, N in 1..=32
    FixedBytes(u8),
    /// `function` (an address and a selector, 24 bytes left-aligned)
    Function,
    /// `bytes`
    Bytes,
    /// `string`
    String,
    /// `T[]`
    Array(Box<ParamType>),
    /// `T[N]`
    FixedArray(Box<ParamType>, usize),
    /// `(T1,T2,…)`
    Tuple(Vec<Param>),
}

/// A parameter: its type and, if given, its name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Param {
    /// The name, if the signature gives one.
    pub name: Option<String>,
    /// The type.
    pub ty: ParamType,
}

impl ParamType {
    /// The canonical type string used in selectors (`uint` → `uint256`, tuples as `(…)`).
    pub fn canonical(&self) -> String {
        match self {
            Self::Address => "address".into(),
            Self::Bool => "bool".into(),
            Self::Uint(bits) => format!("uint{bits}"),
            Self::Int(bits) => format!("int{bits}"),
            Self::FixedBytes(n) => format!("bytes{n}"),
            Self::Function => "function".into(),
            Self::Bytes => "bytes".into(),
            Self::String => "string".into(),
            Self::Array(inner) => format!("{}[]", inner.canonical()),
            Self::FixedArray(inner, n) => format!("{}[{n}]", inner.canonical()),
            Self::Tuple(params) => {
                let inner: Vec<String> = params.iter().map(|p| p.ty.canonical()).collect();
                format!("({})", inner.join(","))
            }
        }
    }

    /// Whether it is encoded out of the head (behind an offset word).
    pub fn is_dynamic(&self) -> bool {
        match self {
            Self::Bytes | Self::String | Self::Array(_) => true,
            Self::FixedArray(inner, _) => inner.is_dynamic(),
            Self::Tuple(params) => params.iter().any(|p| p.ty.is_dynamic()),
            _ => false,
        }
    }

    /// Whether it is one static 32-byte word (`address`, `bool`, `uintN`, `intN`, `bytesN`, `function`).
    pub fn is_elementary(&self) -> bool {
        matches!(
            self,
            Self::Address
                | Self::Bool
                | Self::Uint(_)
                | Self::Int(_)
                | Self::FixedBytes(_)
                | Self::Function
        )
    }

    /// Head words it takes (1 for dynamic types), if under `limit`.
    fn head_words(&self, limit: usize) -> Option<usize> {
        if self.is_dynamic() {
            return Some(1);
        }
        let words = match self {
            Self::FixedArray(inner, n) => inner.head_words(limit)?.checked_mul(*n)?,
            Self::Tuple(params) => {
                let mut sum = 0usize;
                for p in params {
                    sum = sum.checked_add(p.ty.head_words(limit)?)?;
                }
                sum
            }
            _ => 1,
        };
        (words <= limit).then_some(words)
    }
}

impl core::fmt::Display for ParamType {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.canonical())
    }
}

/// One 32-byte word of the calldata head (after the selector).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadWord {
    /// Index of the top-level parameter it belongs to.
    pub param: usize,
    /// A readable name: the parameter's name (or `arg{i}`), with `[k]` / `.field` for parts of static arrays and
    /// tuples.
    pub label: String,
    /// The word's type: elementary for static words, or the dynamic type whose offset the word holds.
    pub ty: ParamType,
    /// Whether the word is the whole parameter (not a part of a static array or tuple).
    pub whole: bool,
}

/// A parsed function signature.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FunctionSignature {
    /// The function's name.
    pub name: String,
    /// Its parameters.
    pub params: Vec<Param>,
}

impl FunctionSignature {
    /// Parses `name(type [name], …)`; whitespace is free, `uint`/`int`/`byte` are normalised, tuples are written
    /// `(…)` or `tuple(…)`, and data locations (`memory`, `calldata`, `storage`) are ignored.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parser = Parser {
            chars: text.char_indices().peekable(),
            text,
        };
        parser.skip_ws();
        let name = parser.identifier().ok_or("expected a function name")?;
        if is_type_keyword(&name) {
            return Err(format!("{name:?} is a type, not a function name"));
        }
        parser.skip_ws();
        let params = parser.param_list(0)?;
        parser.skip_ws();
        if let Some((i, c)) = parser.chars.next() {
            return Err(format!("unexpected {c:?} at {i} after the parameter list"));
        }
        let sig = Self { name, params };
        sig.head_len()?;
        Ok(sig)
    }

    /// `name(type1,type2,…)`.
    pub fn canonical(&self) -> String {
        let types: Vec<String> = self.params.iter().map(|p| p.ty.canonical()).collect();
        format!("{}({})", self.name, types.join(","))
    }

    /// The 4-byte selector: `keccak256(canonical)[0..4]`.
    pub fn selector(&self) -> FixedBytes<4> {
        let hash = keccak256(self.canonical().as_bytes());
        FixedBytes([hash[0], hash[1], hash[2], hash[3]])
    }

    /// Number of head words.
    pub fn head_len(&self) -> Result<usize, String> {
        let mut total = 0usize;
        for p in &self.params {
            total =
                p.ty.head_words(MAX_HEAD_WORDS)
                    .and_then(|w| total.checked_add(w))
                    .filter(|t| *t <= MAX_HEAD_WORDS)
                    .ok_or_else(|| format!("the calldata head is over {MAX_HEAD_WORDS} words"))?;
        }
        Ok(total)
    }

    /// The head words, in calldata order.
    pub fn head_words(&self) -> Vec<HeadWord> {
        let mut words = Vec::new();
        for (i, p) in self.params.iter().enumerate() {
            let label = p.name.clone().unwrap_or_else(|| format!("arg{i}"));
            flatten(i, &label, &p.ty, true, &mut words);
        }
        words
    }

    /// Head word of the parameter named `name` (or `arg{i}`), its index, and the word.
    pub fn word_of_name(&self, name: &str) -> Option<(u16, HeadWord)> {
        self.head_words()
            .into_iter()
            .enumerate()
            .find(|(_, w)| w.label == name)
            .and_then(|(i, w)| u16::try_from(i).ok().map(|i| (i, w)))
    }
}

fn flatten(param: usize, label: &str, ty: &ParamType, whole: bool, out: &mut Vec<HeadWord>) {
    if ty.is_dynamic() || ty.is_elementary() {
        out.push(HeadWord {
            param,
            label: label.to_owned(),
            ty: ty.clone(),
            whole,
        });
        return;
    }
    match ty {
        ParamType::FixedArray(inner, n) => {
            for k in 0..*n {
                flatten(param, &format!("{label}[{k}]"), inner, false, out);
            }
        }
        ParamType::Tuple(params) => {
            for (k, p) in params.iter().enumerate() {
                let sub = match &p.name {
                    Some(name) => format!("{label}.{name}"),
                    None => format!("{label}.{k}"),
                };
                flatten(param, &sub, &p.ty, false, out);
            }
        }
        _ => out.push(HeadWord {
            param,
            label: label.to_owned(),
            ty: ty.clone(),
            whole,
        }),
    }
}

fn is_type_keyword(word: &str) -> bool {
    parse_elementary(word).is_some() || matches!(word, "tuple" | "bytes" | "string")
}

fn parse_elementary(word: &str) -> Option<ParamType> {
    let bits = |digits: &str, default: u16| -> Option<u16> {
        if digits.is_empty() {
            return Some(default);
        }
        if digits.starts_with('0') {
            return None;
        }
        let n: u16 = digits.parse().ok()?;
        (n.is_multiple_of(8) && (8..=256).contains(&n)).then_some(n)
    };
    match word {
        "address" => Some(ParamType::Address),
        "bool" => Some(ParamType::Bool),
        "function" => Some(ParamType::Function),
        "bytes" => Some(ParamType::Bytes),
        "string" => Some(ParamType::String),
        "byte" => Some(ParamType::FixedBytes(1)),
        _ => {
            if let Some(rest) = word.strip_prefix("uint") {
                bits(rest, 256).map(ParamType::Uint)
            } else if let Some(rest) = word.strip_prefix("int") {
                bits(rest, 256).map(ParamType::Int)
            } else if let Some(rest) = word.strip_prefix("bytes") {
                if rest.starts_with('0') {
                    return None;
                }
                let n: u8 = rest.parse().ok()?;
                (1..=32).contains(&n).then_some(ParamType::FixedBytes(n))
            } else {
                None
            }
        }
    }
}

/// Parses a type name such as `uint256`, `address[3]`, `(address,uint256)[]`.
pub fn parse_type(text: &str) -> Result<ParamType, String> {
    let mut parser = Parser {
        chars: text.char_indices().peekable(),
        text,
    };
    parser.skip_ws();
    let ty = parser.param_type(0)?;
    parser.skip_ws();
    if let Some((i, c)) = parser.chars.next() {
        return Err(format!("unexpected {c:?} at {i}"));
    }
    Ok(ty)
}

struct Parser<'a> {
    chars: core::iter::Peekable<core::str::CharIndices<'a>>,
    text: &'a str,
}

const MAX_NESTING: usize = 16;

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.chars.peek().is_some_and(|(_, c)| c.is_whitespace()) {
            self.chars.next();
        }
    }

    fn identifier(&mut self) -> Option<String> {
        let mut out = String::new();
        while let Some(&(_, c)) = self.chars.peek() {
            let ok = c.is_ascii_alphabetic()
                || c == '_'
                || c == '$'
                || (!out.is_empty() && c.is_ascii_digit());
            if !ok {
                break;
            }
            out.push(c);
            self.chars.next();
        }
        (!out.is_empty()).then_some(out)
    }

    fn expect(&mut self, want: char) -> Result<(), String> {
        self.skip_ws();
        match self.chars.next() {
            Some((_, c)) if c == want => Ok(()),
            Some((i, c)) => Err(format!("expected {want:?} at {i}, found {c:?}")),
            None => Err(format!("expected {want:?} at the end of {:?}", self.text)),
        }
    }

    fn param_list(&mut self, depth: usize) -> Result<Vec<Param>, String> {
        if depth > MAX_NESTING {
            return Err("tuples nested too deep".into());
        }
        self.expect('(')?;
        let mut params = Vec::new();
        self.skip_ws();
        if self.chars.peek().is_some_and(|(_, c)| *c == ')') {
            self.chars.next();
            return Ok(params);
        }
        loop {
            self.skip_ws();
            let ty = self.param_type(depth)?;
            self.skip_ws();
            let mut name = self.identifier();
            if matches!(name.as_deref(), Some("memory" | "calldata" | "storage")) {
                self.skip_ws();
                name = self.identifier();
            }
            if let Some(n) = &name {
                if is_type_keyword(n) {
                    return Err(format!("{n:?} cannot be a parameter name"));
                }
                if params
                    .iter()
                    .any(|p: &Param| p.name.as_deref() == Some(n.as_str()))
                {
                    return Err(format!("parameter name {n:?} used twice"));
                }
            }
            params.push(Param { name, ty });
            self.skip_ws();
            match self.chars.next() {
                Some((_, ',')) => continue,
                Some((_, ')')) => return Ok(params),
                Some((i, c)) => return Err(format!("expected ',' or ')' at {i}, found {c:?}")),
                None => return Err("unclosed parameter list".into()),
            }
        }
    }

    fn param_type(&mut self, depth: usize) -> Result<ParamType, String> {
        let mut ty = match self.chars.peek() {
            Some((_, '(')) => ParamType::Tuple(self.param_list(depth + 1)?),
            Some(_) => {
                let word = self.identifier().ok_or_else(|| match self.chars.peek() {
                    Some((i, c)) => format!("expected a type at {i}, found {c:?}"),
                    None => "expected a type".to_owned(),
                })?;
                if word == "tuple" {
                    ParamType::Tuple(self.param_list(depth + 1)?)
                } else if word.starts_with("fixed") || word.starts_with("ufixed") {
                    return Err(format!("{word}: fixed-point types are not supported"));
                } else {
                    parse_elementary(&word).ok_or_else(|| format!("unknown type {word:?}"))?
                }
            }
            None => return Err("expected a type".into()),
        };
        // array suffixes
        let mut dimensions = 0usize;
        loop {
            // no whitespace between a type and its brackets is required, but allow it
            let save = self.chars.clone();
            self.skip_ws();
            if self.chars.peek().is_none_or(|(_, c)| *c != '[') {
                self.chars = save;
                return Ok(ty);
            }
            self.chars.next();
            dimensions += 1;
            if dimensions > MAX_NESTING {
                return Err("arrays nested too deep".into());
            }
            let mut digits = String::new();
            while let Some(&(_, c)) = self.chars.peek() {
                if !c.is_ascii_digit() {
                    break;
                }
                digits.push(c);
                self.chars.next();
            }
            self.expect(']')?;
            ty = if digits.is_empty() {
                ParamType::Array(Box::new(ty))
            } else {
                let n: usize = digits
                    .parse()
                    .map_err(|_| format!("array length {digits} too large"))?;
                if n == 0 || digits.starts_with('0') {
                    return Err(format!("bad array length {digits}"));
                }
                ParamType::FixedArray(Box::new(ty), n)
            };
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn selectors() {
        let sig = FunctionSignature::parse("transfer(address to, uint256 amount)").unwrap();
        assert_eq!(sig.canonical(), "transfer(address,uint256)");
        assert_eq!(sig.selector(), crate::abi::SELECTOR_TRANSFER);
        let sig = FunctionSignature::parse("transferFrom(address,address,uint)").unwrap();
        assert_eq!(sig.selector(), crate::abi::SELECTOR_TRANSFER_FROM);
        let sig =
            FunctionSignature::parse("execute(bytes32 mode, bytes calldata executionCalldata)")
                .unwrap();
        assert_eq!(sig.selector().0, [0xe9, 0xae, 0x5c, 0x53]);
        let sig =
            FunctionSignature::parse("f(tuple(address a,uint256 b)[2] pairs, bytes data, int8 x)")
                .unwrap();
        assert_eq!(sig.canonical(), "f((address,uint256)[2],bytes,int8)");
        let words = sig.head_words();
        assert_eq!(words.len(), 6);
        assert_eq!(words[1].label, "pairs[0].b");
        assert_eq!(words[4].ty, ParamType::Bytes);
        assert_eq!(words[5].label, "x");
        assert_eq!(sig.word_of_name("x").unwrap().0, 5);
    }

    #[test]
    fn rejects() {
        for bad in [
            "",
            "transfer",
            "transfer(",
            "transfer(address to,)",
            "transfer(uint7)",
            "transfer(bytes33)",
            "transfer(address a, uint256 a)",
            "uint256(address)",
            "f(uint256[0])",
            "f(fixed128x18)",
            "f() x",
            "f(uint256[99999999999999999999999])",
            "f(uint256[65537])",
            "f(uint256[][][][][][][][][][][][][][][][][][])",
        ] {
            assert!(FunctionSignature::parse(bad).is_err(), "{bad}");
        }
    }
}
