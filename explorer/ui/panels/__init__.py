"""Control panels. Each panel edits a few Recipe fields: it emits ``changed(dict)``
with the fields it sets, and ``set_recipe`` updates its widgets without emitting."""
