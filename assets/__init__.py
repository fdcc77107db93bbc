"""The workbench's MJCF models (package data of ``so101.assets``); no code lives here.

This file only makes the folder a regular package: setuptools' editable finder does not resolve a mapped
namespace package nested in another package, and ``importlib.resources`` needs an importable anchor.
"""
