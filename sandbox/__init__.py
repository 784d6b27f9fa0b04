"""Local stand-ins for the providers batchpredict talks to.

Each stand-in speaks its provider's wire protocol closely enough that the
official SDK works against it unchanged, and does the real work: it reads the
input a job names, computes the outputs and writes them where the provider
would. Nothing here imports ``api``, ``workers`` or ``common``.
"""
