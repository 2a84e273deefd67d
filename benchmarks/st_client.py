"""A light Streamlit client: one browser session spoken over the app's websocket, no browser.

The capacity benchmark runs tens of these at once against one ``streamlit run``; a real browser
per session would cost the machine more than the server it measures. The client speaks the
protocol a browser tab speaks (``streamlit.proto``):

* it opens ``/_stcore/stream`` with the ``streamlit`` subprotocol (the browser's own Origin);
* a page is asked for with a ``BackMsg`` whose ``rerun_script`` names the page (its
  ``page_script_hash`` once the server has listed the pages in its ``navigation`` message, else
  its ``page_name``, the URL path) and carries the query string;
* the server answers with ``new_session``, the page's ``delta`` messages and finally
  ``script_finished``; a run that ends early for a rerun (``st.rerun``, a query-parameter
  change) is followed by another run, and the page is done at the first run that finishes.

No ``cached_message_hashes`` are sent, so the server sends every message whole (never a
``ref_hash`` to a message it thinks the client has kept). Widget states are not sent: each page is
opened as a first visit to it with default filters.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Self

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

# The ScriptFinishedStatus values (streamlit/proto/ForwardMsg.proto).
FINISHED_SUCCESSFULLY = ForwardMsg.FINISHED_SUCCESSFULLY
FINISHED_EARLY_FOR_RERUN = ForwardMsg.FINISHED_EARLY_FOR_RERUN
STATUS_NAMES = {v: k.lower() for k, v in ForwardMsg.ScriptFinishedStatus.items()}
# Longest wait for one page before it counts as an error (the benchmark's sessions queue
# behind each other; a page that takes this long has failed any reasonable visitor).
PAGE_TIMEOUT_S = 120.0


@dataclass
class PageView:
    """What one page request gave back."""

    page: str
    seconds: float = 0.0  # from sending rerun_script to the script_finished that ended it
    status: str = ""  # "finished_successfully", … or "timeout", "closed", "page_not_found"
    runs: int = 0  # script runs it took (more than 1 when the page asked for a rerun)
    headings: list[str] = field(default_factory=list)  # st.title / st.header / … texts
    exceptions: list[str] = field(default_factory=list)  # st.exception deltas (tracebacks)
    error_texts: list[str] = field(default_factory=list)  # st.error boxes
    texts: list[str] = field(default_factory=list)  # st.markdown / st.caption texts
    bytes_received: int = 0
    messages: int = 0

    @property
    def ok(self) -> bool:
        """Finished, with no exception and no error box shown."""
        return (self.status == STATUS_NAMES[FINISHED_SUCCESSFULLY] and not self.exceptions
                and not self.error_texts)


class StreamlitSession:
    """One session on a running Streamlit server, opened with ``async with``.

    :param base_url: ``http://127.0.0.1:PORT`` (a base path is kept: ``http://host/app``).
    """

    def __init__(self, base_url: str, *, timeout_s: float = PAGE_TIMEOUT_S) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.page_hashes: dict[str, str] = {}  # URL path → page_script_hash, from navigation
        self.session_id = ""
        self._ws = None

    @property
    def ws_url(self) -> str:
        scheme, rest = self.base_url.split("://", 1)
        return f"{'wss' if scheme == 'https' else 'ws'}://{rest}/_stcore/stream"

    async def __aenter__(self) -> Self:
        from websockets.asyncio.client import connect

        # max_size=None: a map page's figure may arrive as one message of megabytes.
        # ping_interval=None: a browser sends no websocket pings of its own (it answers the
        # server's), and a ping unanswered while the server is busy would close the session.
        self._ws = await connect(self.ws_url, subprotocols=["streamlit"],  # type: ignore[list-item]
                                 origin=self.base_url, max_size=None,  # type: ignore[arg-type]
                                 compression=None, open_timeout=self.timeout_s,
                                 ping_interval=None)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._ws is not None:
            await self._ws.close()
            self._ws = None

    def _rerun_message(self, page: str, query_string: str) -> bytes:
        msg = BackMsg()
        state = msg.rerun_script
        state.query_string = query_string
        page_hash = self.page_hashes.get(page)
        if page_hash:
            state.page_script_hash = page_hash
        else:
            state.page_name = page
        state.context_info.timezone = "Asia/Shanghai"
        state.context_info.timezone_offset = -480
        state.context_info.locale = "en-US"
        state.context_info.url = f"{self.base_url}/{page}"
        return msg.SerializeToString()

    async def open_page(self, page: str, query_string: str = "") -> PageView:
        """Ask for ``page`` (a URL path such as ``"map"``) and read until its script finishes."""
        assert self._ws is not None, "open the session with `async with` first"
        view = PageView(page=page)
        t0 = time.perf_counter()
        await self._ws.send(self._rerun_message(page, query_string))
        try:
            await asyncio.wait_for(self._read_run(view), timeout=self.timeout_s)
        except TimeoutError:
            view.status = "timeout"
        except Exception as exc:  # noqa: BLE001 - a closed socket is the page's error
            view.status = f"closed: {type(exc).__name__}"
        view.seconds = time.perf_counter() - t0
        return view

    async def _read_run(self, view: PageView) -> None:
        assert self._ws is not None
        while True:
            data = await self._ws.recv()
            if isinstance(data, str):  # the server speaks binary protobufs only
                continue
            view.bytes_received += len(data)
            view.messages += 1
            msg = ForwardMsg()
            msg.ParseFromString(data)
            kind = msg.WhichOneof("type")
            if kind == "new_session":
                view.runs += 1
                if msg.new_session.initialize.session_id:
                    self.session_id = msg.new_session.initialize.session_id
            elif kind == "navigation":
                for app_page in msg.navigation.app_pages:
                    self.page_hashes[app_page.url_pathname] = app_page.page_script_hash
            elif kind == "delta":
                _read_delta(msg, view)
            elif kind == "page_not_found":
                view.status = "page_not_found"
            elif kind == "script_finished":
                if msg.script_finished == FINISHED_EARLY_FOR_RERUN:
                    continue
                if view.status != "page_not_found":
                    view.status = STATUS_NAMES.get(msg.script_finished,
                                                   str(msg.script_finished))
                return


def _read_delta(msg: ForwardMsg, view: PageView) -> None:
    delta = msg.delta
    if delta.WhichOneof("type") != "new_element":
        return
    element = delta.new_element
    kind = element.WhichOneof("type")
    if kind == "heading":
        view.headings.append(element.heading.body)
    elif kind == "exception":
        view.exceptions.append(f"{element.exception.type}: {element.exception.message}")
    elif kind == "alert" and element.alert.format == element.alert.ERROR:
        view.error_texts.append(element.alert.body)
    elif kind == "markdown":
        view.texts.append(element.markdown.body)


async def visit_pages(base_url: str, pages: list[str], query_string: str = "",
                      *, timeout_s: float = PAGE_TIMEOUT_S) -> list[PageView]:
    """One session that opens each of ``pages`` in turn; every page's :class:`PageView`."""
    async with StreamlitSession(base_url, timeout_s=timeout_s) as session:
        return [await session.open_page(page, query_string) for page in pages]
