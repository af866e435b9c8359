"""The offline archive: the site built with offline settings, packed as a BagIt bag in a zip, and
its verification. One module per job:

- `offline`: build the offline site and make its zip (`make_offline_zip`, `zip_offline_build`);
- `bag`: the BagIt bag of a site, its tag files, and what bag-info.txt says of the articles;
- `bag_zip`: the bag as a zip, entries of unchanged files copied from the zip it replaces;
- `reproducible_zip`: zip bytes that depend on the entries alone, compressed and read back on
  every core (the one module that touches zipfile's internals);
- `publish`: the finished zip put in place atomically, only when its bytes changed;
- `link_check`: the links of a built site, resolved as a browser reads them from disk;
- `verify`: one `verify()` for a site folder, a bag folder or a zip.

What the zip promises, and what `verify` checks:
- it is a BagIt bag (made and validated with the `bagit` library) in one top-level folder named
  after the zip; the site is the payload under `data/`; a top-level `index.html` opens it;
- every internal link and asset resolves inside the payload from disk: no root-relative (`/...`)
  links, no links to folders (from disk they open a file listing), no external assets;
- every article the site lists (`data/articles.jsonl` when the site exports it) has its page;
- the same content gives the same bytes: entries sorted, timestamps and permissions fixed, and
  the bag's dates come from the articles (`Bagging-Date` is the latest article's day), never
  from the clock.

Nothing is imported here: the workers that compress import `reproducible_zip` alone.
"""
