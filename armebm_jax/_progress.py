"""Progress bars: ``tqdm.auto`` without its warning where a notebook front end lacks ipywidgets."""

import warnings

with warnings.catch_warnings():  # tqdm.auto falls back to the text bar and says so; we only want the bar
  warnings.simplefilter("ignore")
  from tqdm.auto import tqdm

__all__ = ["tqdm"]
