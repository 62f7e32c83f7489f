"""The bundled demo: a generated topic dataset with planted label errors (`data`) and the demo's run (`run`)."""
