"""Convert the VGG16 trunk of HED's Keras weights to a torchvision-layout fp16 .safetensors file
(29 MiB instead of the .h5's 56 MiB), for machines where the .h5 or h5py is not at hand (a lent GPU
gets 64 MiB of files per call). The file's metadata records the Caffe input convention, so
``--encoder-weights FILE`` folds the gray stem exactly as ``hed:PATH`` does (up to fp16 rounding).

    python scripts/hed_to_safetensors.py $(python scripts/pretrained.py hed) -o gpu/hed_vgg16.safetensors
"""

import argparse
import json

import torch
from safetensors.torch import save_file

from huenet.encoders import load_hed_vgg16

ap = argparse.ArgumentParser()
ap.add_argument("h5")
ap.add_argument("-o", "--output", required=True)
args = ap.parse_args()
w = load_hed_vgg16(args.h5)
sd = {k: v.to(torch.float16).contiguous() for k, v in w.state_dict.items()}
save_file(sd, args.output, metadata={"input_norm": "caffe", "provenance": json.dumps(w.provenance)})
print(f"wrote {args.output}: {sum(v.numel() for v in sd.values()):,} parameters (fp16)")
