"""User accounts and sign-in: the users repository, the service the API and the users CLI
call, the token and /me routes, and the limit on failed sign-ins."""
