"""Uploads stay in memory or are spooled encrypted: Django would otherwise spool a file over
2.5 MB to a plaintext temporary file on disk, and a photo must never touch disk unencrypted.

A photo is kept in memory (it is decoded whole anyway). A video (its first bytes, or failing
that its name or declared type, say so: vault.videos.is_video) is written as it arrives to a
``CipherSpool``, an unnamed temporary file encrypted under a key that lives only in the spool
object (in FILE_UPLOAD_TEMP_DIR or the system's), and is read from there in pieces: a clip of
up to VAULT_MAX_UPLOAD_BYTES is never held in memory by the web process.

A request whose files add up to more than VAULT_MAX_UPLOAD_BYTES keeps nothing: the
handler drops the data as it arrives and flags the request, and the view answers
413 ``file_too_large``.
"""

from io import BytesIO

from django.conf import settings
from django.core.files.uploadedfile import InMemoryUploadedFile, UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, SkipFile

from vault import videos
from vault.video_box import CipherSpool

TOO_LARGE_FLAG = "vault_upload_too_large"


class SpooledVideo(UploadedFile):
    """A video received in one request, held in a CipherSpool; ``pieces()`` reads it from the start."""

    def pieces(self):
        return self.file.pieces()

    def read(self, *args, **kwargs):
        raise TypeError("a spooled video is read in pieces, never whole")


class MemoryOnlyUploadHandler(FileUploadHandler):
    # Django's multipart parser reads the body in chunks of this size (64 KiB by default): in
    # 1 MiB chunks it goes through a photo in far fewer Python steps (measured with
    # bench/http_bench.py --breakdown: request to view 4.3 -> 3.2 ms for 3 MP, 10.8 -> 9.5 ms for
    # 12 MP). A request over the limit is refused at most one chunk past it.
    chunk_size = 1 << 20

    def __init__(self, request=None):
        super().__init__(request)
        self.received = 0
        self.file = None
        self.too_large = False

    @property
    def limit(self) -> int:
        return settings.VAULT_MAX_UPLOAD_BYTES

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.file = None  # in memory or spooled: the first chunk decides

    def _open(self, head: bytes):
        name, declared = self.file_name or "", self.content_type or ""
        if videos.is_video(data=head[:64], filename=name, declared_content_type=declared):
            self.file = CipherSpool(settings.FILE_UPLOAD_TEMP_DIR)
        else:
            self.file = BytesIO()

    def _refuse(self):
        # Drop what was kept; Django closes handler.file after a SkipFile, so keep an empty one.
        self.too_large = True
        self.file = BytesIO()
        if self.request is not None:
            setattr(self.request, TOO_LARGE_FLAG, True)
        raise SkipFile

    def receive_data_chunk(self, raw_data, start):
        if self.too_large:
            raise SkipFile
        self.received += len(raw_data)
        if self.received > self.limit:
            if self.file is not None:
                self.file.close()
            self._refuse()
        if self.file is None:
            self._open(raw_data)
        self.file.write(raw_data)
        return None

    def file_complete(self, file_size):
        if self.too_large:
            return None
        if self.file is None:
            self.file = BytesIO()  # an empty file
        self.file.seek(0)
        if isinstance(self.file, CipherSpool):
            return SpooledVideo(file=self.file, name=self.file_name, content_type=self.content_type,
                                size=file_size, charset=self.charset, content_type_extra=self.content_type_extra)
        return InMemoryUploadedFile(
            file=self.file,
            field_name=self.field_name,
            name=self.file_name,
            content_type=self.content_type,
            size=file_size,
            charset=self.charset,
            content_type_extra=self.content_type_extra,
        )
