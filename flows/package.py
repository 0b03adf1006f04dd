"""Prefect flow of the package stage (``python -m flows.package``)."""

from flows.stage import main, stage_flow

package_flow = stage_flow("package", "genre.stages.package")

if __name__ == "__main__":
    main(package_flow)
