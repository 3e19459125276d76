"""Images in: readers and writers, sources (folders, manifest CSV, BBBC021), normalisation,
datasets and the synthetic cell generator.

Images are ``(C, Y, X)`` numpy arrays in the file's own dtype until they are normalised.
"""
