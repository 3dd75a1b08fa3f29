"""A reference client for Camera Roll Sharing Suggestions: the phone side of consentsvc.

It watches a camera-roll folder and uploads recent photos to a consentsvc server, only while
the holder's `camera_roll_cloud_processing` consent is on; it stops the moment that consent
goes. It needs no Django: the standard library for HTTP and SQLite, Pillow to read capture
times and keywords, tqdm for the progress bar.
"""

__version__ = "0.1.0"
