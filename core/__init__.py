"""The bottom layer: what every app uses and that knows no app (errors, env, signing, database
helpers, the API's error shape and parsers). It imports no app of ours; import-linter checks it."""
