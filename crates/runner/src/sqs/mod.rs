//! Reading S3 notifications from SQS: what a message body asks for
//! ([`message`]), and the watch that receives, works and deletes messages
//! ([`queue`]).

pub mod message;
pub mod queue;
