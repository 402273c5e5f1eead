use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_core::Stream;
use pin_project_lite::pin_project;

use super::{Decoded, Decoder, StreamError};

pin_project! {
    /// Decodes a stream of byte chunks into a stream of [`Decoded`] items.
    ///
    /// It ends when the byte stream does, discarding an incomplete event; an
    /// error from the byte stream is passed on as [`StreamError::Source`],
    /// and polling may go on after it.
    ///
    /// ```
    /// use futures_util::{StreamExt, stream};
    /// use ssekit_core::decode::{DecodeStream, Decoded};
    ///
    /// # futures_util::FutureExt::now_or_never(async {
    /// let chunks = stream::iter(["data: hel", "lo\n\ndata: unfinished"])
    ///     .map(Ok::<_, std::io::Error>);
    /// let items: Vec<_> = DecodeStream::new(chunks).collect().await;
    /// assert_eq!(items.len(), 1);
    /// assert!(matches!(&items[0], Ok(Decoded::Event(e)) if e.data() == "hello"));
    /// # }).unwrap();
    /// ```
    #[derive(Debug)]
    #[must_use = "streams do nothing unless polled"]
    pub struct DecodeStream<S> {
        #[pin]
        inner: S,
        decoder: Decoder,
        finished: bool,
    }
}

impl<S> DecodeStream<S> {
    /// Decodes `inner` with a default [`Decoder`].
    pub fn new(inner: S) -> Self {
        Self::with_decoder(inner, Decoder::new())
    }

    /// Decodes `inner` with `decoder`.
    pub fn with_decoder(inner: S, decoder: Decoder) -> Self {
        DecodeStream {
            inner,
            decoder,
            finished: false,
        }
    }

    /// The decoder, for its [`last_event_id`](Decoder::last_event_id).
    pub fn decoder(&self) -> &Decoder {
        &self.decoder
    }

    /// The byte stream underneath.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Gives back the byte stream and the decoder.
    pub fn into_parts(self) -> (S, Decoder) {
        (self.inner, self.decoder)
    }
}

impl<S, B, E> Stream for DecodeStream<S>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
{
    type Item = Result<Decoded, StreamError<E>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        loop {
            if let Some(item) = this.decoder.next_item() {
                return Poll::Ready(Some(item.map_err(StreamError::Decode)));
            }
            if *this.finished {
                return Poll::Ready(None);
            }
            match ready!(this.inner.as_mut().poll_next(cx)) {
                Some(Ok(chunk)) => this.decoder.feed(chunk.as_ref()),
                Some(Err(error)) => return Poll::Ready(Some(Err(StreamError::Source(error)))),
                None => *this.finished = true,
            }
        }
    }
}
