"""Multi-label tags on images: a `<Choices choice="multiple">` on an `<Image>`.

The tag logic (labels, flags, which tags are likely missing or extra, metrics) is multi-label text's
(`MultiLabelTags`); the images come as in every image task (adapters/tasks/image_inputs.py); the model is
the image classifier over tag sets (adapters/models/image_tagger.py), with the image classifier's options
(RELABEL_IMAGE_MODEL, RELABEL_IMAGE_EPOCHS, RELABEL_IMAGE_SIZE).
"""
from __future__ import annotations

from relabel.adapters.base import TaskAdapter
from relabel.adapters.data.media import MediaFetcher
from relabel.adapters.models.image_classifier import DEFAULT_IMAGE_MODEL
from relabel.adapters.models.image_tagger import PowersetImageTagger
from relabel.adapters.tasks.image_inputs import ImageInputs
from relabel.adapters.tasks.multilabel import MultiLabelTags


class MultiLabelImageAdapter(MultiLabelTags, ImageInputs, TaskAdapter):
    name = "multi-label-image"
    description = 'multi-choice <Choices choice="multiple"> on an <Image>'
    object_tags = ("Image",)
    object_names = "an <Image>"

    def __init__(self, label_config: str, *, image_model: str = DEFAULT_IMAGE_MODEL, epochs: int = 20,
                 image_size: int = 128, batch_size: int = 32, device: str = "auto", seed: int = 0,
                 train_options: dict | None = None, fetch_media: MediaFetcher | None = None):
        control = self.parse_config(label_config)
        self.from_name, self.to_name, self.data_key = control.from_name, control.to_name, control.data_key
        self._read_tags(control)
        self._use_image_classifier(image_model, epochs, image_size, batch_size, device, seed, train_options,
                                   fetch_media)

    def new_model(self) -> PowersetImageTagger:
        return PowersetImageTagger(self.classes, **self._model_options())

    def save_model(self, model: PowersetImageTagger, directory: str) -> None:
        model.save(directory)  # with its tags and sets, which loading checks against the config

    def load_model(self, directory: str) -> PowersetImageTagger:
        return PowersetImageTagger.load(directory, self.classes, **self._model_options())
