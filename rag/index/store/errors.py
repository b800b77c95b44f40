"""The one exception of the store layer."""


class StoreError(Exception):
    """An index problem the user fixes by running `pilotqa build` (or by fixing the store's address);
    the message is one line."""
