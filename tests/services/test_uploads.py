"""Uploaded roster files: encrypted at rest under random names, deleted after use or a day."""

from __future__ import annotations

import os
import time

import pytest

from webapp.services import uploads

SECRET_ROW = b"sourcedId,givenName\ns1,Zoe Secretname\n"


def test_upload_is_encrypted_under_a_random_name(app):
    with app.app_context():
        key = uploads.store_upload("../../etc/passwd.csv", SECRET_ROW)
        files = list(uploads.upload_dir().iterdir())
        assert [f.name for f in files] == [f"{key}.bin"]
        raw = files[0].read_bytes()
        assert b"Secretname" not in raw and b"passwd" not in raw
        assert files[0].stat().st_mode & 0o077 == 0  # owner only
        assert uploads.load_upload(key) == ("../../etc/passwd.csv", SECRET_ROW)


def test_another_secret_key_cannot_read_an_upload(app):
    with app.app_context():
        key = uploads.store_upload("p.csv", SECRET_ROW)
        app.config["SECRET_KEY"] = "a-different-secret-key"
        with pytest.raises(uploads.UploadMissing):
            uploads.load_upload(key)


def test_keys_that_are_not_ours_are_refused(app):
    with app.app_context():
        for key in ("../secret_key", "", None, "ABC"):
            with pytest.raises(uploads.UploadMissing):
                uploads.load_upload(key)


def test_purge_deletes_only_uploads_past_retention(app):
    with app.app_context():
        old = uploads.store_upload("old.csv", SECRET_ROW)
        fresh = uploads.store_upload("fresh.csv", SECRET_ROW)
        past = time.time() - 25 * 3600
        os.utime(uploads.upload_dir() / f"{old}.bin", (past, past))
        assert uploads.purge_uploads() == 1
        with pytest.raises(uploads.UploadMissing):
            uploads.load_upload(old)
        assert uploads.load_upload(fresh)[0] == "fresh.csv"
