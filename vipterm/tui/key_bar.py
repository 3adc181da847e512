"""The key bar at the foot of vipterm's screens: Textual's Footer, without its needless rebuilds."""

from __future__ import annotations

from textual.widgets import Footer


class SteadyFooter(Footer):
    """The key bar, built with the screen and rebuilt only when the keys it shows change.

    Footer composes no keys at first and rebuilds all of them (a dozen widgets mounted, then a
    layout of the screen) whenever the screen's bindings are updated: focus moving, the screen
    shown, every return from a form. While the caseload first appeared that was ~11 rebuilds, one
    per update, each scheduled before the previous had put any key in.
    """

    _shown: tuple | None = None  # the keys composed now
    _pending = False  # a rebuild is scheduled

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.set_reactive(Footer._bindings_ready, True)  # the keys are composed with the screen

    @staticmethod
    def _keys_of(screen) -> tuple:
        return tuple(
            (key, binding.key, binding.description, binding.action, enabled, tooltip)
            for key, (_node, binding, enabled, tooltip) in screen.active_bindings.items()
            if binding.show
        )

    def compose(self):
        self._shown = self._keys_of(self.screen)
        yield from super().compose()

    def bindings_changed(self, screen) -> None:
        # Compared when the rebuild would run, not now: the bindings pass through in-between
        # states while the screen is shown (focus not yet on the table), which need no rebuild.
        if screen is not self.screen or not screen.app.app_focus or self._pending:
            return
        self._pending = True
        self.call_after_refresh(self._rebuild)

    async def _rebuild(self) -> None:
        self._pending = False
        if self.is_attached and self._keys_of(self.screen) != self._shown:
            await self.recompose()
