//! The item types an event stream may yield.

use std::convert::Infallible;

use ssekit_core::Event;

/// The error type every stream error is turned into before it is logged.
///
/// Converting happens once, on the error path only, so a stream that never
/// fails never allocates for it.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An item of a stream that [`SseBody`](crate::SseBody) can serve: either an
/// [`Event`] or a `Result<Event, E>`.
///
/// This trait is sealed: the two implementations are the whole list, so that
/// one body type covers infallible streams and fallible ones alike.
///
/// ```
/// use std::io;
/// use ssekit_core::Event;
/// use ssekit_tower::SseItem;
///
/// fn servable<T: SseItem>() {}
/// servable::<Event>();
/// servable::<Result<Event, io::Error>>();
/// ```
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
