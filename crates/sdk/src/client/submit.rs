//! Submission: straight to `EntryPoint.handleOps` from the client's sender (simulation, sending, the outcome from
//! the receipt), or through the client's bundler.

use keyscope_bindings::entry_point_v07::EntryPoint as EntryPointContract;

use super::calldata::binding_op;
use super::{Client, OpOutcome, PreparedOp, Submission};
use crate::error::{Error, Result, Revert};

impl Client {
    /// Runs `handleOps([op])` in an `eth_call` from the sender (whatever the client's submission path): `Ok` when the EntryPoint accepts the operation,
    /// the decoded rejection otherwise ([`Error::EntryPoint`] with the `AAxx` code and the validator's error).
    /// A chain id change or a missing stack is reported as such ([`Error::ChainChanged`],
    /// [`Error::StackNotDeployed`]).
    pub async fn simulate(&self, op: &PreparedOp) -> Result<()> {
        match self
            .entry_point(op.version)
            .handleOps(vec![binding_op(&op.op)], self.sender)
            .from(self.sender)
            .gas(self.gas.handle_ops_gas)
            .call()
            .await
        {
            Ok(_) => Ok(()),
            Err(error) => Err(self.diagnose(op.version, error.into()).await),
        }
    }

    /// Sends a prepared operation the client's way ([`Submission`]):
    /// * [`Submission::HandleOps`]: simulates `op` (a rejection is returned decoded, and nothing is sent), then
    ///   sends `handleOps([op])` from the sender and reads the outcome from the receipt's `UserOperationEvent`;
    /// * [`Submission::Bundler`]: `eth_sendUserOperation` to the EntryPoint of its version, then waits for its
    ///   receipt ([`BundlerClient::submit`](crate::BundlerClient::submit): safe to retry). A rejection in
    ///   validation is [`Error::Bundler`] with its `AAxx` code and the validator's error.
    pub async fn send(&self, op: &PreparedOp) -> Result<OpOutcome> {
        if let Submission::Bundler(bundler) = &self.submission {
            let entry_point = self.stack.version(op.version).entry_point;
            return bundler.submit(&op.op, entry_point, op.user_op_hash).await;
        }
        self.simulate(op).await?;
        let entry_point = self.entry_point(op.version);
        let pending = {
            let _submitting = self.submit.lock().await;
            entry_point
                .handleOps(vec![binding_op(&op.op)], self.sender)
                .from(self.sender)
                .gas(self.gas.handle_ops_gas)
                .send()
                .await?
        };
        let receipt = pending.get_receipt().await?;
        let tx_hash = receipt.transaction_hash;
        if !receipt.status() {
            return Err(Error::HandleOpsReverted { tx_hash });
        }
        let mut event = None;
        let mut revert = None;
        for log in receipt.logs() {
            if log.address() != *entry_point.address() {
                continue;
            }
            if let Ok(decoded) = log.log_decode::<EntryPointContract::UserOperationEvent>() {
                if decoded.inner.data.userOpHash == op.user_op_hash {
                    event = Some(decoded.inner.data);
                }
            } else if let Ok(decoded) =
                log.log_decode::<EntryPointContract::UserOperationRevertReason>()
            {
                if decoded.inner.data.userOpHash == op.user_op_hash {
                    revert = Some(Revert::decode(&decoded.inner.data.revertReason));
                }
            }
        }
        let event = event.ok_or(Error::MissingUserOperationEvent {
            user_op_hash: op.user_op_hash,
            tx_hash,
        })?;
        Ok(OpOutcome {
            user_op_hash: op.user_op_hash,
            tx_hash,
            gas_used: receipt.gas_used,
            actual_gas_used: event.actualGasUsed,
            actual_gas_cost: event.actualGasCost,
            success: event.success,
            revert,
        })
    }
}
