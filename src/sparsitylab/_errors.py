"""Exceptions raised by sparsitylab."""


class DivergenceError(ArithmeticError):
    """Training produced a non-finite loss or parameters and was stopped."""
