//! The k-of-n weighted multisig session signature: its key bytes and `SessionSigners._isValidMultisig`'s rule.

use alloy_primitives::{Address, B256};

use super::{
    commitment, verify_single_key, SignatureCheck, SignerKind, MAX_MULTISIG_MEMBERS,
    MULTISIG_MEMBER_LENGTH,
};

/// The mirror of `SessionSigners._isValidMultisig`: the same verdict on every input, with every reason found.
pub(super) fn verify(hash: &B256, signer: Address, signature: &[u8]) -> SignatureCheck {
    let length = signature.len();
    if length < 4 {
        return invalid(vec![format!(
            "truncated: {length} bytes, a multisig signature's header needs 4"
        )]);
    }
    let threshold = u16::from_be_bytes([signature[1], signature[2]]);
    let n = usize::from(signature[3]);
    let key_end = 4 + n * MULTISIG_MEMBER_LENGTH;
    if n == 0 {
        return invalid(vec!["a multisig of 0 members".into()]);
    }
    if n > MAX_MULTISIG_MEMBERS {
        return invalid(vec![format!(
            "{n} multisig members, at most {MAX_MULTISIG_MEMBERS}"
        )]);
    }
    if threshold == 0 {
        return invalid(vec!["multisig threshold 0".into()]);
    }
    if length <= key_end {
        return invalid(vec![format!(
            "truncated: {n} members and the signer count need {} bytes, {length} given",
            key_end + 1
        )]);
    }

    let mut issues = Vec::new();
    let committed = commitment(&signature[..key_end]);
    if committed != signer {
        issues.push(format!(
            "key commitment {committed} is not the session signer {signer}"
        ));
    }
    let member = |i: usize| {
        let at = 4 + i * MULTISIG_MEMBER_LENGTH;
        (
            Address::from_slice(&signature[at..at + 20]),
            u16::from_be_bytes([signature[at + 20], signature[at + 21]]),
        )
    };
    let mut total: u32 = 0;
    let mut previous = Address::ZERO;
    for i in 0..n {
        let (address, weight) = member(i);
        if i != 0 && address <= previous {
            issues.push(format!(
                "members not in strictly ascending order: member {i} {address} is not above {previous}"
            ));
        }
        if weight == 0 {
            issues.push(format!("member {i} has weight 0"));
        }
        previous = address;
        total += u32::from(weight);
    }
    if u32::from(threshold) > total {
        issues.push(format!(
            "threshold {threshold} is above the total weight {total}"
        ));
    }

    let signers = usize::from(signature[key_end]);
    if signers == 0 || signers > n {
        issues.push(format!("{signers} sub-signatures for {n} members"));
        return invalid(issues);
    }
    let mut cursor = key_end + 1;
    let mut signed: u32 = 0;
    let mut next_index = 0;
    for j in 0..signers {
        if length - cursor < 3 {
            issues.push(format!(
                "truncated: sub-signature {j}'s header at offset {cursor} needs 3 bytes"
            ));
            return invalid(issues);
        }
        let index = usize::from(signature[cursor]);
        let sub_length = usize::from(u16::from_be_bytes([
            signature[cursor + 1],
            signature[cursor + 2],
        ]));
        cursor += 3;
        if length - cursor < sub_length {
            issues.push(format!(
                "truncated: sub-signature {j} needs {sub_length} bytes at offset {cursor}, {} left",
                length - cursor
            ));
            return invalid(issues);
        }
        if index < next_index {
            issues.push(format!(
                "member indices not strictly ascending: {index} after {}",
                next_index - 1
            ));
            return invalid(issues);
        }
        if index >= n {
            issues.push(format!("member index {index} out of range ({n} members)"));
            return invalid(issues);
        }
        next_index = index + 1;
        let (address, weight) = member(index);
        let sub = &signature[cursor..cursor + sub_length];
        cursor += sub_length;
        let check = verify_single_key(hash, address, sub);
        if check.valid {
            signed += u32::from(weight);
        } else {
            issues.push(format!(
                "member {index} ({address}): {}",
                check.reason.unwrap_or_default()
            ));
        }
    }
    if cursor != length {
        issues.push(format!(
            "{} trailing bytes after the last sub-signature",
            length - cursor
        ));
    }
    if signed < u32::from(threshold) {
        issues.push(format!("{signed} of threshold {threshold} weight signed"));
    }
    if issues.is_empty() {
        SignatureCheck::valid(SignerKind::Multisig)
    } else {
        invalid(issues)
    }
}

fn invalid(issues: Vec<String>) -> SignatureCheck {
    SignatureCheck::invalid(SignerKind::Multisig, issues.join("; "))
}
