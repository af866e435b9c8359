"""Article pages whose inputs did not change since the previous build are hard-linked from it
instead of rendered again (see broadsheet.reuse). Only `invoke rebuild` turns it on, through the
REUSE_PREVIOUS setting; without it this writer is Pelican's own."""

from __future__ import annotations

import logging
import os

from pelican import signals
from pelican.writers import Writer

from broadsheet import partitioned, reuse

log = logging.getLogger(__name__)
#: The keyword arguments Pelican passes when it writes one article page.
ARTICLE_PAGE_ARGS = {"article", "category", "blog"}
#: The pages a partition of a partitioned build writes (broadsheet.partitioned): its articles'
#: and their versions'. The driver writes every other page.
PARTITION_PAGE_ARGS = {"article", "version"}


class ReusingWriter(Writer):
    def __init__(self, output_path, settings=None):
        super().__init__(output_path, settings=settings)
        self.reuse = reuse.start(self.settings, output_path)

    def _open_w(self, filename, encoding, override=False):
        # A file linked from the previous version is replaced, never written through.
        try:
            if os.stat(filename).st_nlink > 1:
                os.unlink(filename)
        except OSError:
            pass
        return super()._open_w(filename, encoding, override=override)

    def write_file(self, name, template, context, relative_urls=False, paginated=None, template_name=None,
                   override_output=False, url=None, **kwargs):
        role = partitioned.role(self.settings)
        if role is not None and (role == partitioned.PARTITION) != bool(PARTITION_PAGE_ARGS & set(kwargs)):
            return
        if self.reuse.enabled and name and kwargs.get("article") is not None and not paginated \
                and set(kwargs) <= ARTICLE_PAGE_ARGS:
            key = reuse.key_of(template.name, name, relative_urls, override_output, kwargs["article"],
                         kwargs.get("category"))
            if self.reuse.take(name, key):
                return
        elif self.reuse.enabled and name and kwargs.get("article") is not None:
            self.reuse.unkeyed += 1  # a draft: written without a key, so never linked
        super().write_file(name, template, context, relative_urls=relative_urls, paginated=paginated,
                           template_name=template_name, override_output=override_output, url=url, **kwargs)


    def write_feed(self, *args, **kwargs):
        if partitioned.is_partition(self.settings):  # the driver writes the feeds
            return None
        return super().write_feed(*args, **kwargs)


def get_writer(pelican):
    return ReusingWriter


def save_record(pelican) -> None:
    done = reuse.finish(pelican.settings)
    if done is not None:
        log.info("unchanged files: %d linked from the previous build, %d written", done.reused, done.rendered)


def register():
    signals.content_object_init.connect(reuse.mark_read)
    signals.get_writer.connect(get_writer)
    signals.finalized.connect(save_record)
