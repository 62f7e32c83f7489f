"""HTTP clients both sides use: Label Studio's (`label_studio`) and the Re-Label backend's own endpoints (`backend`)."""
