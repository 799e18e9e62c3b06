//! Merkle trees in the layout of OpenZeppelin's `StandardMerkleTree` (`@openzeppelin/merkle-tree` 1.x).
//!
//! Leaves are sorted by hash and stored, in reverse, at the end of a complete binary tree kept in an array:
//! `tree[0]` is the root, the children of `tree[i]` are `tree[2i + 1]` and `tree[2i + 2]`, and an internal node is
//! the keccak256 of its two children in ascending order (commutative hashing, as OpenZeppelin's `MerkleProof`).
//! Leaf `i` in the API is the `i`-th value given, as in `StandardMerkleTree.getProof(i)`.

use alloy_primitives::{keccak256, B256};

use crate::abi::{leaf_hash_with, Permission};
use crate::error::{Error, Result};

/// Most leaves a tree may have: 2^24 (the contract's proof length is a `uint8`, far above this depth).
pub const MAX_LEAVES: usize = 1 << 24;

/// keccak256 of the two nodes in ascending order.
#[inline]
pub fn hash_pair(a: &B256, b: &B256) -> B256 {
    let mut buffer = [0u8; 64];
    let (low, high) = if a <= b { (a, b) } else { (b, a) };
    buffer[..32].copy_from_slice(low.as_slice());
    buffer[32..].copy_from_slice(high.as_slice());
    keccak256(buffer)
}

/// The root a proof leads to from `leaf` (`MerkleProof.processProof`).
pub fn process_proof(leaf: B256, proof: &[B256]) -> B256 {
    proof
        .iter()
        .fold(leaf, |node, sibling| hash_pair(&node, sibling))
}

/// Whether `proof` proves `leaf` in the tree of `root` (`MerkleProof.verify`).
pub fn verify(root: B256, leaf: B256, proof: &[B256]) -> bool {
    process_proof(leaf, proof) == root
}

/// A multiproof in OpenZeppelin's format (`MerkleProof.multiProofVerify`): the leaves in the order the proof
/// consumes them, the sibling hashes it needs, and one flag per internal step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultiProof {
    /// The proven leaves, in the order the proof uses them.
    pub leaves: Vec<B256>,
    /// Sibling hashes.
    pub proof: Vec<B256>,
    /// For each hashing step: `true` to take the second operand from the leaves/computed hashes, `false` from
    /// `proof`.
    pub proof_flags: Vec<bool>,
}

/// The root a multiproof leads to (`MerkleProof.processMultiProof`), or `None` if it is malformed.
pub fn process_multi_proof(multiproof: &MultiProof) -> Option<B256> {
    let MultiProof {
        leaves,
        proof,
        proof_flags,
    } = multiproof;
    if leaves.len() + proof.len() != proof_flags.len() + 1 {
        return None;
    }
    let total = proof_flags.len();
    if total == 0 {
        return leaves.first().copied().or_else(|| proof.first().copied());
    }
    let mut hashes: Vec<B256> = Vec::with_capacity(total);
    let (mut leaf_pos, mut hash_pos, mut proof_pos) = (0usize, 0usize, 0usize);
    let next = |hashes: &Vec<B256>, leaf_pos: &mut usize, hash_pos: &mut usize| -> Option<B256> {
        if *leaf_pos < leaves.len() {
            *leaf_pos += 1;
            Some(leaves[*leaf_pos - 1])
        } else {
            *hash_pos += 1;
            hashes.get(*hash_pos - 1).copied()
        }
    };
    for flag in proof_flags {
        let a = next(&hashes, &mut leaf_pos, &mut hash_pos)?;
        let b = if *flag {
            next(&hashes, &mut leaf_pos, &mut hash_pos)?
        } else {
            proof_pos += 1;
            *proof.get(proof_pos - 1)?
        };
        hashes.push(hash_pair(&a, &b));
    }
    if proof_pos != proof.len() {
        return None;
    }
    hashes.last().copied()
}

/// A `StandardMerkleTree`-compatible tree of permission leaves.
#[derive(Clone, PartialEq, Eq)]
pub struct PermissionTree {
    /// The whole tree; `tree[0]` is the root.
    tree: Vec<B256>,
    /// For each value (in the order given), its index in `tree`.
    positions: Vec<u32>,
}

impl core::fmt::Debug for PermissionTree {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PermissionTree")
            .field("root", &self.root())
            .field("leaves", &self.len())
            .finish()
    }
}

impl PermissionTree {
    /// The tree of these permissions' leaves (see [`crate::abi::leaf_hash`]).
    pub fn from_permissions(permissions: &[Permission]) -> Result<Self> {
        let mut buffer = Vec::with_capacity(1024);
        let leaves = permissions
            .iter()
            .map(|permission| leaf_hash_with(permission, &mut buffer))
            .collect();
        Self::from_leaves(leaves)
    }

    /// [`Self::from_permissions`] with the leaf hashing (most of the work) spread over `threads` threads.
    pub fn from_permissions_parallel(permissions: &[Permission], threads: usize) -> Result<Self> {
        if permissions.is_empty() {
            return Err(Error::EmptyTree);
        }
        let chunk = permissions.len().div_ceil(threads.max(1));
        let mut leaves = vec![B256::ZERO; permissions.len()];
        std::thread::scope(|scope| {
            for (out, input) in leaves.chunks_mut(chunk).zip(permissions.chunks(chunk)) {
                scope.spawn(move || {
                    let mut buffer = Vec::with_capacity(1024);
                    for (leaf, permission) in out.iter_mut().zip(input) {
                        *leaf = leaf_hash_with(permission, &mut buffer);
                    }
                });
            }
        });
        Self::from_leaves(leaves)
    }

    /// The tree of these leaf hashes, in the order given (the order proofs are asked by).
    pub fn from_leaves(leaves: Vec<B256>) -> Result<Self> {
        let n = leaves.len();
        if n == 0 {
            return Err(Error::EmptyTree);
        }
        if n > MAX_LEAVES {
            return Err(Error::TooMany {
                path: "permissions".into(),
                what: "leaves",
                count: n,
                max: MAX_LEAVES,
            });
        }
        // Sort (hash, index) pairs by a 64-bit prefix first: far faster than comparing 32-byte keys throughout.
        // Ties fall back to the whole hash, then to the index, as the stable sort of `StandardMerkleTree` does.
        let mut order: Vec<(u64, u32)> = leaves
            .iter()
            .enumerate()
            .map(|(i, leaf)| (prefix(leaf), i as u32))
            .collect();
        order.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| leaves[a.1 as usize].cmp(&leaves[b.1 as usize]))
                .then(a.1.cmp(&b.1))
        });
        let size = 2 * n - 1;
        let mut tree = vec![B256::ZERO; size];
        let mut positions = vec![0u32; n];
        for (leaf_index, &(_, value_index)) in order.iter().enumerate() {
            let tree_index = size - 1 - leaf_index;
            tree[tree_index] = leaves[value_index as usize];
            positions[value_index as usize] = tree_index as u32;
        }
        drop(leaves);
        for i in (0..size - n).rev() {
            tree[i] = hash_pair(&tree[2 * i + 1], &tree[2 * i + 2]);
        }
        Ok(Self { tree, positions })
    }

    /// The root.
    pub fn root(&self) -> B256 {
        self.tree[0]
    }

    /// How many leaves.
    pub fn len(&self) -> usize {
        self.positions.len()
    }

    /// Always false: a tree has at least one leaf.
    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    /// The whole array, root first (as `StandardMerkleTree.dump().tree`).
    pub fn nodes(&self) -> &[B256] {
        &self.tree
    }

    /// The leaf hash of value `index`.
    pub fn leaf(&self, index: usize) -> Result<B256> {
        Ok(self.tree[self.position(index)?])
    }

    /// Value `index`'s position in [`Self::nodes`].
    pub fn position(&self, index: usize) -> Result<usize> {
        self.positions
            .get(index)
            .map(|p| *p as usize)
            .ok_or(Error::LeafIndexOutOfRange {
                index,
                count: self.len(),
            })
    }

    /// The proof of value `index`, leaf to root (`StandardMerkleTree.getProof(index)`).
    pub fn proof(&self, index: usize) -> Result<Vec<B256>> {
        let mut proof = Vec::with_capacity(64);
        self.proof_into(index, &mut proof)?;
        Ok(proof)
    }

    /// [`Self::proof`] written into `proof` (cleared first), without allocating once it has room.
    pub fn proof_into(&self, index: usize, proof: &mut Vec<B256>) -> Result<()> {
        let mut i = self.position(index)?;
        proof.clear();
        while i > 0 {
            // sibling: the other child of the same parent
            let sibling = if i % 2 == 1 { i + 1 } else { i - 1 };
            proof.push(self.tree[sibling]);
            i = (i - 1) / 2;
        }
        Ok(())
    }

    /// One proof per value index, in the order given (what a batch of calls needs: the contract takes one proof
    /// per call).
    pub fn proofs(&self, indices: &[usize]) -> Result<Vec<Vec<B256>>> {
        indices.iter().map(|&i| self.proof(i)).collect()
    }

    /// Whether `proof` proves `leaf` in this tree.
    pub fn verify(&self, leaf: B256, proof: &[B256]) -> bool {
        verify(self.root(), leaf, proof)
    }

    /// A multiproof of several values (`StandardMerkleTree.getMultiProof(indices)`).
    pub fn multi_proof(&self, indices: &[usize]) -> Result<MultiProof> {
        let mut stack: Vec<usize> = indices
            .iter()
            .map(|&i| self.position(i))
            .collect::<Result<_>>()?;
        stack.sort_unstable_by(|a, b| b.cmp(a));
        if let Some(w) = stack.windows(2).find(|w| w[0] == w[1]) {
            let index = self
                .positions
                .iter()
                .position(|p| *p as usize == w[0])
                .unwrap_or(0);
            return Err(Error::DuplicateIndex { index });
        }
        let leaves = stack.iter().map(|&i| self.tree[i]).collect();
        let mut queue = std::collections::VecDeque::from(stack);
        let (mut proof, mut proof_flags) = (Vec::new(), Vec::new());
        while let Some(&j) = queue.front() {
            if j == 0 {
                break;
            }
            queue.pop_front();
            let sibling = if j % 2 == 1 { j + 1 } else { j - 1 };
            let parent = (j - 1) / 2;
            if queue.front() == Some(&sibling) {
                proof_flags.push(true);
                queue.pop_front();
            } else {
                proof_flags.push(false);
                proof.push(self.tree[sibling]);
            }
            queue.push_back(parent);
        }
        if indices.is_empty() {
            proof.push(self.tree[0]);
        }
        Ok(MultiProof {
            leaves,
            proof,
            proof_flags,
        })
    }
}

#[inline]
fn prefix(hash: &B256) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&hash[..8]);
    u64::from_be_bytes(bytes)
}
