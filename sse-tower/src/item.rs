//! The item types an event stream may yield.

use std::convert::Infallible;

use ssekit_core::Event;

/// The type every stream error is turned into, on the error path only.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An item of a stream that [`SseBody`](crate::SseBody) can serve: an
/// [`Event`] or a `Result<Event, E>`; sealed.
pub trait SseItem: sealed::Sealed {
    /// The error a failed item carries; [`Infallible`] for plain events.
    type Error: Into<BoxError>;

    /// The event, or the error that ends the stream.
    fn into_result(self) -> Result<Event, Self::Error>;
}

impl SseItem for Event {
    type Error = Infallible;

    #[inline]
    fn into_result(self) -> Result<Event, Infallible> {
        Ok(self)
    }
}

impl<E: Into<BoxError>> SseItem for Result<Event, E> {
    type Error = E;

    #[inline]
    fn into_result(self) -> Result<Event, E> {
        self
    }
}

#[allow(unreachable_pub)] // the sealing trait must be `pub` to be a supertrait
mod sealed {
    pub trait Sealed {}

    impl Sealed for ssekit_core::Event {}
    impl<E> Sealed for Result<ssekit_core::Event, E> {}
}
