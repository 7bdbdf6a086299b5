//! Reading S3 notifications from SQS.

pub mod message;
