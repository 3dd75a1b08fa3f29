from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    """Compressed, content-hashed names (cached for a year by whitenoise). With DEBUG on (the
    development server) a file not collected yet keeps its plain name."""

    manifest_strict = False
