"""Errors a service raises for the HTTP layer to map (one clear line each, never a 500)."""

from __future__ import annotations


class ApiError(Exception):
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequestError(ApiError):
    status = 400


class InvalidError(ApiError):
    status = 422


class NotFoundError(ApiError):
    status = 404


class ConflictError(ApiError):
    status = 409


class TooLargeError(ApiError):
    status = 413


class UnsupportedError(ApiError):
    status = 415


class UnavailableError(ApiError):
    status = 503
